/* vulnfusion._bytebpe: the GPT-2 / RoBERTa byte-level pre-tokenizer for ASCII text, in C.
 *
 * A byte-level BPE tokenizer (Hugging Face `tokenizers`: ByteLevel pre-tokenizer, BPE model)
 * first splits a text into words with the GPT-2 pattern (Radford et al. 2019, encoder.py)
 *
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * then runs BPE on each word alone. In `tokenizers` that split costs ~0.4 us per character
 * (a regex over a NormalizedString that tracks every character's alignment): most of the
 * featurize stage's tokenizer time. For ASCII the pattern's classes are fixed (letters
 * A-Za-z, digits 0-9, whitespace \t \n \v \f \r and space) and this module does the same
 * split directly. tokenization.py uses it to
 *
 *   - count the words of the BPE training corpus (count_words, in a hash table of its own:
 *     a dict update per word cost ~3x more), fed to the trainer once per distinct word, and
 *   - encode (encode): each word's ids come from a cache dict filled by a Python callback
 *     that runs the tokenizer's own BPE model on the word, so the ids are the tokenizer's.
 *
 * Both leave text that is not pure ASCII to the caller: the caller then uses
 * `tokenizers` itself. The split equals `tokenizers`' (tests/unit/test_bytebpe.py compares
 * them on hand-written edge cases and on Devign).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define API_VERSION 2

enum { OTHER = 0, WS = 1, LETTER = 2, DIGIT = 3 };
static unsigned char CLS[128];

static void init_classes(void) {
    for (int c = 0; c < 128; c++) CLS[c] = OTHER;
    for (int c = 'a'; c <= 'z'; c++) CLS[c] = LETTER;
    for (int c = 'A'; c <= 'Z'; c++) CLS[c] = LETTER;
    for (int c = '0'; c <= '9'; c++) CLS[c] = DIGIT;
    /* Oniguruma's \s: \t \n \v \f \r and space (0x1c-0x1f are not, unlike str.isspace) */
    CLS['\t'] = CLS['\n'] = CLS['\v'] = CLS['\f'] = CLS['\r'] = CLS[' '] = WS;
}

/* End of the word that starts at s[i] (i < n): the pattern's alternatives, in order. */
static Py_ssize_t word_end(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) {
    unsigned char c = s[i];
    if (c == '\'' && i + 1 < n) { /* 's 't 're 've 'm 'll 'd (case-sensitive) */
        unsigned char d = s[i + 1];
        if (d == 's' || d == 't' || d == 'm' || d == 'd') return i + 2;
        if (i + 2 < n) {
            unsigned char e = s[i + 2];
            if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l'))
                return i + 3;
        }
    }
    Py_ssize_t j = i;
    if (c == ' ' && i + 1 < n && CLS[s[i + 1]] != WS) j = i + 1; /* the optional space */
    int k = CLS[s[j]];
    if (k != WS) { /* ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ */
        Py_ssize_t e = j + 1;
        while (e < n && CLS[s[e]] == k) e++;
        return e;
    }
    Py_ssize_t e = i + 1; /* a whitespace run */
    while (e < n && CLS[s[e]] == WS) e++;
    if (e == n) return e;         /* \s+(?!\S) up to the end of the text */
    if (e - i >= 2) return e - 1; /* \s+(?!\S) leaves the last one to the next word */
    return e;                     /* \s+: one whitespace character before a non-space */
}

static PyObject *ascii_word(const unsigned char *s, Py_ssize_t len) {
    PyObject *w = PyUnicode_New(len, 127);
    if (w != NULL) memcpy(PyUnicode_1BYTE_DATA(w), s, (size_t)len);
    return w;
}

PyDoc_STRVAR(split_doc,
             "split(text) -> list[str] | None\n\n"
             "The pre-tokenizer's words of an ASCII text (their concatenation is the text); "
             "None if the text is not pure ASCII.");

static PyObject *split(PyObject *self, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "split() argument must be str, not %.80s",
                     Py_TYPE(text)->tp_name);
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(text)) Py_RETURN_NONE;
    const unsigned char *s = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t j = word_end(s, n, i);
        PyObject *w = ascii_word(s + i, j - i);
        if (w == NULL || PyList_Append(out, w) < 0) {
            Py_XDECREF(w);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(w);
        i = j;
    }
    return out;
}

/* count_words' table: open addressing over (hash, word bytes in an arena), in first-seen order */
typedef struct {
    Py_ssize_t at, len; /* the word: arena[at:at+len] */
    Py_ssize_t count;
    uint64_t hash;
} Entry;

typedef struct {
    Entry *entries; /* first-seen order */
    Py_ssize_t n, cap;
    Py_ssize_t *slots; /* index into entries + 1; 0 = empty */
    size_t mask;
    unsigned char *arena;
    Py_ssize_t used, size;
} Table;

static void table_free(Table *t) {
    PyMem_Free(t->entries);
    PyMem_Free(t->slots);
    PyMem_Free(t->arena);
}

static uint64_t fnv1a(const unsigned char *s, Py_ssize_t len) {
    uint64_t h = 1469598103934665603ULL;
    for (Py_ssize_t i = 0; i < len; i++) h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

static int table_grow_slots(Table *t) {
    size_t cap = (t->mask + 1) * 2;
    Py_ssize_t *slots = PyMem_Calloc(cap, sizeof(Py_ssize_t));
    if (slots == NULL) return -1;
    for (Py_ssize_t e = 0; e < t->n; e++) {
        size_t k = (size_t)t->entries[e].hash & (cap - 1);
        while (slots[k] != 0) k = (k + 1) & (cap - 1);
        slots[k] = e + 1;
    }
    PyMem_Free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    return 0;
}

/* Count one occurrence of s[0:len]; -1 on memory error. */
static int table_add(Table *t, const unsigned char *s, Py_ssize_t len) {
    uint64_t h = fnv1a(s, len);
    size_t k = (size_t)h & t->mask;
    for (Py_ssize_t e; (e = t->slots[k]) != 0; k = (k + 1) & t->mask) {
        Entry *x = &t->entries[e - 1];
        if (x->hash == h && x->len == len && memcmp(t->arena + x->at, s, (size_t)len) == 0) {
            x->count++;
            return 0;
        }
    }
    if (t->n == t->cap) {
        Py_ssize_t cap = t->cap * 2;
        Entry *entries = PyMem_Realloc(t->entries, (size_t)cap * sizeof(Entry));
        if (entries == NULL) return -1;
        t->entries = entries, t->cap = cap;
    }
    if (t->used + len > t->size) {
        Py_ssize_t size = t->size * 2 + len;
        unsigned char *arena = PyMem_Realloc(t->arena, (size_t)size);
        if (arena == NULL) return -1;
        t->arena = arena, t->size = size;
    }
    memcpy(t->arena + t->used, s, (size_t)len);
    t->entries[t->n] = (Entry){t->used, len, 1, h};
    t->used += len;
    t->slots[k] = ++t->n;
    return 2 * (size_t)t->n > t->mask ? table_grow_slots(t) : 0; /* load <= 1/2 */
}

PyDoc_STRVAR(count_words_doc,
             "count_words(texts) -> (dict[str, int], list[int])\n\n"
             "Each pre-tokenizer word of the ASCII texts in the list texts -> its number of "
             "occurrences (words in first-seen order), and the indices of the texts that are "
             "not pure ASCII (not counted: split those with tokenizers).");

static PyObject *count_words(PyObject *self, PyObject *texts) {
    if (!PyList_Check(texts)) {
        PyErr_Format(PyExc_TypeError, "count_words() argument must be a list, not %.80s",
                     Py_TYPE(texts)->tp_name);
        return NULL;
    }
    Table t = {NULL, 0, 1024, NULL, 2047, NULL, 0, 1 << 16};
    t.entries = PyMem_Malloc((size_t)t.cap * sizeof(Entry));
    t.slots = PyMem_Calloc(t.mask + 1, sizeof(Py_ssize_t));
    t.arena = PyMem_Malloc((size_t)t.size);
    PyObject *counts = NULL, *skipped = PyList_New(0);
    if (t.entries == NULL || t.slots == NULL || t.arena == NULL || skipped == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(texts); i++) {
        PyObject *text = PyList_GET_ITEM(texts, i);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "count_words(): texts[%zd] is %.80s, not str", i,
                         Py_TYPE(text)->tp_name);
            goto fail;
        }
        if (!PyUnicode_IS_ASCII(text)) {
            PyObject *index = PyLong_FromSsize_t(i);
            int rc = index == NULL ? -1 : PyList_Append(skipped, index);
            Py_XDECREF(index);
            if (rc < 0) goto fail;
            continue;
        }
        const unsigned char *s = PyUnicode_1BYTE_DATA(text);
        Py_ssize_t n = PyUnicode_GET_LENGTH(text);
        for (Py_ssize_t a = 0; a < n;) {
            Py_ssize_t b = word_end(s, n, a);
            if (table_add(&t, s + a, b - a) < 0) {
                PyErr_NoMemory();
                goto fail;
            }
            a = b;
        }
    }
    counts = PyDict_New();
    if (counts == NULL) goto fail;
    for (Py_ssize_t e = 0; e < t.n; e++) {
        PyObject *w = ascii_word(t.arena + t.entries[e].at, t.entries[e].len);
        PyObject *c = w == NULL ? NULL : PyLong_FromSsize_t(t.entries[e].count);
        int rc = c == NULL ? -1 : PyDict_SetItem(counts, w, c);
        Py_XDECREF(w);
        Py_XDECREF(c);
        if (rc < 0) goto fail;
    }
    table_free(&t);
    PyObject *out = PyTuple_Pack(2, counts, skipped);
    Py_DECREF(counts);
    Py_DECREF(skipped);
    return out;
fail:
    table_free(&t);
    Py_XDECREF(counts);
    Py_XDECREF(skipped);
    return NULL;
}

PyDoc_STRVAR(encode_doc,
             "encode(text, cache, tokenize, limit) -> list[int] | None\n\n"
             "The ids of an ASCII text's first words, at most limit of them: each word's ids "
             "are cache[word], and a word not in cache gets cache[word] = tokenize(word) (a "
             "tuple of int). None if the text is not pure ASCII.");

static PyObject *encode(PyObject *self, PyObject *args) {
    PyObject *text, *cache, *tokenize;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "UO!On:encode", &text, &PyDict_Type, &cache, &tokenize, &limit))
        return NULL;
    if (!PyCallable_Check(tokenize)) {
        PyErr_SetString(PyExc_TypeError, "encode() tokenize must be callable");
        return NULL;
    }
    if (limit < 0) {
        PyErr_SetString(PyExc_ValueError, "encode() limit must be >= 0");
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(text)) Py_RETURN_NONE;
    const unsigned char *s = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n && PyList_GET_SIZE(out) < limit;) {
        Py_ssize_t j = word_end(s, n, i);
        PyObject *w = ascii_word(s + i, j - i);
        if (w == NULL) goto fail;
        PyObject *ids = PyDict_GetItemWithError(cache, w); /* borrowed */
        if (ids != NULL) {
            Py_INCREF(ids);
        } else if (PyErr_Occurred()) {
            Py_DECREF(w);
            goto fail;
        } else {
            ids = PyObject_CallOneArg(tokenize, w);
            if (ids != NULL && !PyTuple_Check(ids)) {
                PyErr_Format(PyExc_TypeError, "encode() tokenize must return a tuple, not %.80s",
                             Py_TYPE(ids)->tp_name);
                Py_CLEAR(ids);
            }
            if (ids == NULL || PyDict_SetItem(cache, w, ids) < 0) {
                Py_XDECREF(ids);
                Py_DECREF(w);
                goto fail;
            }
        }
        Py_DECREF(w);
        Py_ssize_t m = PyTuple_GET_SIZE(ids);
        for (Py_ssize_t k = 0; k < m; k++) {
            if (PyList_Append(out, PyTuple_GET_ITEM(ids, k)) < 0) {
                Py_DECREF(ids);
                goto fail;
            }
        }
        Py_DECREF(ids);
        i = j;
    }
    if (PyList_GET_SIZE(out) > limit && PyList_SetSlice(out, limit, PY_SSIZE_T_MAX, NULL) < 0)
        goto fail;
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"split", split, METH_O, split_doc},
    {"count_words", count_words, METH_O, count_words_doc},
    {"encode", encode, METH_VARARGS, encode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_bytebpe",
    "The GPT-2 byte-level pre-tokenizer for ASCII text (see _bytebpe.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__bytebpe(void) {
    init_classes();
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "API_VERSION", API_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
