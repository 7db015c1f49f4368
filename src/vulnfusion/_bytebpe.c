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
 * It also runs the BPE trainer's merge loop (train: bytebpe.train_merges documents the
 * rules; bytebpe._train_loop is the same loop in Python, ~10x slower, and the tests compare
 * the two merge by merge).
 *
 * Both leave text that is not pure ASCII to the caller: the caller then uses
 * `tokenizers` itself. The split equals `tokenizers`' (tests/unit/test_bytebpe.py compares
 * them on hand-written edge cases and on Devign).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define API_VERSION 3

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

/* ---- train: BpeTrainer's merge loop (see bytebpe.train_merges) ---------------------- */

typedef struct { /* pair -> count, open addressing; pairs are never removed */
    uint64_t *keys; /* (a << 32 | b) + 1; 0 = empty */
    int64_t *counts;
    size_t mask, n;
} PairCounts;

static size_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

static int pc_grow(PairCounts *t) {
    size_t cap = (t->mask + 1) * 2;
    uint64_t *keys = PyMem_Calloc(cap, sizeof(uint64_t));
    int64_t *counts = PyMem_Calloc(cap, sizeof(int64_t));
    if (keys == NULL || counts == NULL) {
        PyMem_Free(keys);
        PyMem_Free(counts);
        return -1;
    }
    for (size_t i = 0; i <= t->mask; i++) {
        if (t->keys[i] == 0) continue;
        size_t k = mix(t->keys[i]) & (cap - 1);
        while (keys[k] != 0) k = (k + 1) & (cap - 1);
        keys[k] = t->keys[i], counts[k] = t->counts[i];
    }
    PyMem_Free(t->keys);
    PyMem_Free(t->counts);
    t->keys = keys, t->counts = counts, t->mask = cap - 1;
    return 0;
}

/* The count of a pair, added at 0 if new; NULL: out of memory (only when new). */
static int64_t *pc_slot(PairCounts *t, uint64_t pair) {
    uint64_t key = pair + 1;
    size_t k = mix(key) & t->mask;
    while (t->keys[k] != 0 && t->keys[k] != key) k = (k + 1) & t->mask;
    if (t->keys[k] == key) return &t->counts[k];
    if (2 * (t->n + 1) > t->mask) { /* load <= 1/2 */
        if (pc_grow(t) < 0) return NULL;
        k = mix(key) & t->mask;
        while (t->keys[k] != 0) k = (k + 1) & t->mask;
    }
    t->keys[k] = key, t->n++;
    return &t->counts[k];
}

typedef struct { /* a sorted, duplicate-free list of word indices */
    int32_t *at;
    Py_ssize_t n, cap;
} Words;

static int words_add(Words *w, int32_t i) {
    if (w->n > 0 && w->at[w->n - 1] == i) return 0; /* words are visited in order */
    if (w->n == w->cap) {
        Py_ssize_t cap = w->cap ? 2 * w->cap : 4;
        int32_t *at = PyMem_Realloc(w->at, (size_t)cap * sizeof(int32_t));
        if (at == NULL) return -1;
        w->at = at, w->cap = cap;
    }
    w->at[w->n++] = i;
    return 0;
}

typedef struct { /* pair -> the words it was counted in, in first-seen order of pairs */
    uint64_t *pairs;
    Words *words; /* owned here until handed to a heap entry (then .at = NULL) */
    Py_ssize_t n, cap;
    int32_t *slots; /* index into pairs, where gen == cur */
    uint32_t *gen, cur;
    size_t mask;
} Where;

/* Empty it (O(entries), not O(slots): the first one holds every pair of the corpus). */
static void where_reset(Where *w) {
    for (Py_ssize_t i = 0; i < w->n; i++) PyMem_Free(w->words[i].at);
    w->n = 0;
    if (++w->cur == 0) { /* wrapped: forget every slot the old way */
        memset(w->gen, 0, (w->mask + 1) * sizeof(uint32_t));
        w->cur = 1;
    }
}

static int where_add(Where *w, uint64_t pair, int32_t word) {
    size_t k = mix(pair) & w->mask;
    while (w->gen[k] == w->cur && w->pairs[w->slots[k]] != pair) k = (k + 1) & w->mask;
    if (w->gen[k] != w->cur) {
        if (2 * (size_t)(w->n + 1) > w->mask) {
            size_t cap = (w->mask + 1) * 2;
            int32_t *slots = PyMem_Malloc(cap * sizeof(int32_t));
            uint32_t *gen = PyMem_Calloc(cap, sizeof(uint32_t));
            if (slots == NULL || gen == NULL) {
                PyMem_Free(slots);
                PyMem_Free(gen);
                return -1;
            }
            for (Py_ssize_t i = 0; i < w->n; i++) {
                size_t j = mix(w->pairs[i]) & (cap - 1);
                while (gen[j] == w->cur) j = (j + 1) & (cap - 1);
                slots[j] = (int32_t)i, gen[j] = w->cur;
            }
            PyMem_Free(w->slots);
            PyMem_Free(w->gen);
            w->slots = slots, w->gen = gen, w->mask = cap - 1;
            k = mix(pair) & w->mask;
            while (w->gen[k] == w->cur) k = (k + 1) & w->mask;
        }
        if (w->n == w->cap) {
            Py_ssize_t cap = w->cap ? 2 * w->cap : 64;
            uint64_t *pairs = PyMem_Realloc(w->pairs, (size_t)cap * sizeof(uint64_t));
            if (pairs == NULL) return -1;
            w->pairs = pairs;
            Words *words = PyMem_Realloc(w->words, (size_t)cap * sizeof(Words));
            if (words == NULL) return -1;
            w->words = words, w->cap = cap;
        }
        w->pairs[w->n] = pair;
        w->words[w->n] = (Words){NULL, 0, 0};
        w->slots[k] = (int32_t)w->n++, w->gen[k] = w->cur;
    }
    return words_add(&w->words[w->slots[k]], word);
}

typedef struct {
    int64_t count;
    uint64_t pair, order;
    Words words;
} HeapEntry;

typedef struct {
    HeapEntry *e;
    Py_ssize_t n, cap;
} Heap;

/* pops first: the larger count, then the smaller pair (a, then b), then the earlier push */
static int before(const HeapEntry *x, const HeapEntry *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->pair != y->pair) return x->pair < y->pair;
    return x->order < y->order;
}

static int heap_push(Heap *h, HeapEntry x) {
    if (h->n == h->cap) {
        Py_ssize_t cap = h->cap ? 2 * h->cap : 1024;
        HeapEntry *e = PyMem_Realloc(h->e, (size_t)cap * sizeof(HeapEntry));
        if (e == NULL) return -1;
        h->e = e, h->cap = cap;
    }
    Py_ssize_t i = h->n++;
    while (i > 0 && before(&x, &h->e[(i - 1) / 2])) {
        h->e[i] = h->e[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->e[i] = x;
    return 0;
}

static HeapEntry heap_pop(Heap *h) {
    HeapEntry top = h->e[0], last = h->e[--h->n];
    Py_ssize_t i = 0;
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->e[c + 1], &h->e[c])) c++;
        if (!before(&h->e[c], &last)) break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->n > 0) h->e[i] = last;
    return top;
}

#define PAIR(a, b) (((uint64_t)(uint32_t)(a) << 32) | (uint32_t)(b))

/* Word::merge: replace each (a, b), left to right, by new; n: the word's count */
static int merge_word(int32_t *sym, Py_ssize_t *len, int32_t a, int32_t b, int32_t new,
                      int64_t n, int32_t word, PairCounts *pc, Where *where) {
    for (Py_ssize_t j = 0; j + 1 < *len; j++) {
        if (sym[j] != a || sym[j + 1] != b) continue;
        int64_t *c;
        if (j > 0) {
            int32_t left = sym[j - 1];
            if ((c = pc_slot(pc, PAIR(left, a))) == NULL) return -1;
            *c -= n;
            if ((c = pc_slot(pc, PAIR(left, new))) == NULL) return -1;
            *c += n;
            if (where_add(where, PAIR(left, new), word) < 0) return -1;
        }
        sym[j] = new;
        memmove(sym + j + 1, sym + j + 2, (size_t)(*len - j - 2) * sizeof(int32_t));
        (*len)--;
        if (j < *len - 1) {
            int32_t right = sym[j + 1];
            if ((c = pc_slot(pc, PAIR(b, right))) == NULL) return -1;
            *c -= n;
            if ((c = pc_slot(pc, PAIR(new, right))) == NULL) return -1;
            *c += n;
            if (where_add(where, PAIR(new, right), word) < 0) return -1;
        }
    }
    return 0;
}

/* Queue where's pairs that still occur (count > 0; the initial ones: count != 0). */
static int queue(Heap *h, Where *w, PairCounts *pc, uint64_t *order, int initial) {
    for (Py_ssize_t p = 0; p < w->n; p++) {
        int64_t count = *pc_slot(pc, w->pairs[p]); /* counted: found, no allocation */
        if (initial ? count == 0 : count <= 0) continue;
        if (heap_push(h, (HeapEntry){count, w->pairs[p], (*order)++, w->words[p]}) < 0)
            return -1;
        w->words[p].at = NULL; /* the entry owns them now */
    }
    where_reset(w);
    return 0;
}

PyDoc_STRVAR(train_doc,
             "train(words, counts, n_tokens, vocab_size, min_frequency, new_token) "
             "-> list[tuple[int, int]]\n\n"
             "BpeTrainer's merge loop on words (lists of symbol ids) occurring counts times: "
             "the merged pairs in order (a pair may repeat). new_token(a, b) returns the id "
             "of the merged symbol; the loop stops when n_tokens (grown by new ids) reaches "
             "vocab_size, or the best pair occurs fewer than min_frequency times. "
             "bytebpe.train_merges documents the rules.");

static PyObject *train(PyObject *self, PyObject *args) {
    PyObject *words_in, *counts_in, *new_token;
    Py_ssize_t n_tokens, vocab_size, min_frequency;
    if (!PyArg_ParseTuple(args, "O!O!nnnO:train", &PyList_Type, &words_in, &PyList_Type,
                          &counts_in, &n_tokens, &vocab_size, &min_frequency, &new_token))
        return NULL;
    if (!PyCallable_Check(new_token)) {
        PyErr_SetString(PyExc_TypeError, "train(): new_token must be callable");
        return NULL;
    }
    Py_ssize_t nw = PyList_GET_SIZE(words_in);
    if (PyList_GET_SIZE(counts_in) != nw || nw > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "train(): words and counts differ in length");
        return NULL;
    }
    PyObject *merges = NULL;
    int32_t *sym = NULL;
    Py_ssize_t *start = PyMem_Calloc((size_t)nw + 1, sizeof(Py_ssize_t));
    Py_ssize_t *len = PyMem_Calloc((size_t)nw + 1, sizeof(Py_ssize_t));
    int64_t *freq = PyMem_Calloc((size_t)nw + 1, sizeof(int64_t));
    PairCounts pc = {PyMem_Calloc(1024, sizeof(uint64_t)), PyMem_Calloc(1024, sizeof(int64_t)),
                     1023, 0};
    Where where = {NULL, NULL, 0, 0, PyMem_Malloc(1024 * sizeof(int32_t)),
                   PyMem_Calloc(1024, sizeof(uint32_t)), 1, 1023};
    Heap heap = {NULL, 0, 0};
    uint64_t order = 0;
    if (start == NULL || len == NULL || freq == NULL || pc.keys == NULL || pc.counts == NULL ||
        where.slots == NULL || where.gen == NULL)
        goto nomem;
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < nw; i++) {
        PyObject *w = PyList_GET_ITEM(words_in, i), *c = PyList_GET_ITEM(counts_in, i);
        if (!PyList_Check(w) || !PyLong_Check(c)) {
            PyErr_Format(PyExc_TypeError, "train(): words[%zd] must be a list and counts[%zd] "
                         "an int", i, i);
            goto fail;
        }
        start[i] = total, len[i] = PyList_GET_SIZE(w);
        total += len[i];
        freq[i] = PyLong_AsLongLong(c);
        if (freq[i] == -1 && PyErr_Occurred()) goto fail;
    }
    if ((sym = PyMem_Malloc((size_t)(total + 1) * sizeof(int32_t))) == NULL) goto nomem;
    for (Py_ssize_t i = 0; i < nw; i++) { /* the initial pair counts and their words */
        PyObject *w = PyList_GET_ITEM(words_in, i);
        for (Py_ssize_t j = 0; j < len[i]; j++) {
            long v = PyLong_AsLong(PyList_GET_ITEM(w, j));
            if ((v == -1 && PyErr_Occurred()) || v < 0 || v > INT32_MAX) {
                if (!PyErr_Occurred())
                    PyErr_Format(PyExc_ValueError, "train(): words[%zd][%zd] is not a symbol "
                                 "id", i, j);
                goto fail;
            }
            sym[start[i] + j] = (int32_t)v;
            if (j == 0) continue;
            uint64_t pair = PAIR(sym[start[i] + j - 1], v);
            int64_t *c = pc_slot(&pc, pair);
            if (c == NULL || where_add(&where, pair, (int32_t)i) < 0) goto nomem;
            *c += freq[i];
        }
    }
    if (queue(&heap, &where, &pc, &order, 1) < 0) goto nomem;
    if ((merges = PyList_New(0)) == NULL) goto fail;
    while (n_tokens < vocab_size && heap.n > 0) {
        HeapEntry top = heap_pop(&heap);
        int64_t count = *pc_slot(&pc, top.pair);
        if (top.count != count) { /* stale: re-queue with the current count */
            top.count = count, top.order = order++;
            if (heap_push(&heap, top) < 0) {
                PyMem_Free(top.words.at);
                goto nomem;
            }
            continue;
        }
        if (count < 1 || count < min_frequency) {
            PyMem_Free(top.words.at);
            break;
        }
        int32_t a = (int32_t)(top.pair >> 32), b = (int32_t)(top.pair & 0xffffffffu);
        PyObject *id = PyObject_CallFunction(new_token, "ii", a, b);
        long new = id == NULL ? -1 : PyLong_AsLong(id);
        Py_XDECREF(id);
        PyObject *pair = new < 0 ? NULL : Py_BuildValue("(ii)", a, b);
        int rc = pair == NULL ? -1 : PyList_Append(merges, pair);
        Py_XDECREF(pair);
        if (rc < 0 || new > INT32_MAX) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "train(): new_token gave a bad id");
            PyMem_Free(top.words.at);
            goto fail;
        }
        if (new >= n_tokens) n_tokens = new + 1;
        for (Py_ssize_t k = 0; k < top.words.n; k++) {
            int32_t i = top.words.at[k];
            if (merge_word(sym + start[i], &len[i], a, b, (int32_t)new, freq[i], i, &pc,
                           &where) < 0) {
                PyMem_Free(top.words.at);
                goto nomem;
            }
        }
        PyMem_Free(top.words.at);
        if (queue(&heap, &where, &pc, &order, 0) < 0) goto nomem;
    }
    goto done;
nomem:
    PyErr_NoMemory();
fail:
    Py_CLEAR(merges);
done:
    for (Py_ssize_t i = 0; i < heap.n; i++) PyMem_Free(heap.e[i].words.at);
    where_reset(&where);
    PyMem_Free(heap.e);
    PyMem_Free(where.pairs);
    PyMem_Free(where.words);
    PyMem_Free(where.slots);
    PyMem_Free(where.gen);
    PyMem_Free(pc.keys);
    PyMem_Free(pc.counts);
    PyMem_Free(sym);
    PyMem_Free(start);
    PyMem_Free(len);
    PyMem_Free(freq);
    return merges;
}

static PyMethodDef methods[] = {
    {"split", split, METH_O, split_doc},
    {"count_words", count_words, METH_O, count_words_doc},
    {"encode", encode, METH_VARARGS, encode_doc},
    {"train", train, METH_VARARGS, train_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_bytebpe",
    "The GPT-2 byte-level pre-tokenizer for ASCII text, and the BPE merge loop (see _bytebpe.c).", -1, methods,
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
