/* vulnfusion.graphs._cwalk: pass 1 of the graph builder (``walk.walk_tree``) in C.
 *
 * The same pre-order walk as ``walk._walk_py``, node for node: it appends to the same
 * ``Walk`` lists, keeps the statement tree itself and calls the same Python helpers for the
 * rare nodes that need more (declarator identifiers, compound assignments). What it saves is
 * the Python bytecode and the ``TreeCursor``/``Node`` objects of the ~550 nodes a Devign
 * function has: ~0.14 ms per function against ~0.35 ms (of ~1.0-1.2 ms per graph).
 *
 * The tree comes from py-tree-sitter: its ``Node`` object holds a ``TSNode`` by value right
 * after the object header (tree_sitter/binding/types.h), and the cursor functions are
 * compiled from the tree-sitter runtime that the same py-tree-sitter release bundles
 * (third_party/tree-sitter). ``vulnfusion.graphs.walk`` loads this module only when the
 * installed py-tree-sitter is that release, and ``check_node`` verifies the layout.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "tree_sitter/api.h"

#define API_VERSION 3

/* tree_sitter/binding/types.h (py-tree-sitter 0.26.1) */
typedef struct {
    PyObject_HEAD
    TSNode node;
    PyObject *children;
    PyObject *tree;
} PyTSNode;

/* actions: vulnfusion.graphs.parser A_* */
enum { A_SKIP, A_ANON, A_CASSIGN, A_LIT, A_IDENT, A_NAMED, A_CONT, A_STMT, A_FOR };
#define NO_UNIT (-1)
#define FOR_MARK (-10)
#define TOKEN_MAX 32
#define N_SYMBOLS 0x10000

/* stubs for runtime functions the vendored subset references but this walk never reaches
 * (tree edits, wasm languages): linking them keeps the module loadable with RTLD_NOW */
bool ts_language_is_wasm(const TSLanguage *self) { (void)self; return false; }
void ts_wasm_language_retain(const TSLanguage *self) { (void)self; }
void ts_wasm_language_release(const TSLanguage *self) { (void)self; }
TSNode ts_tree_root_node(const TSTree *self) {
    (void)self;
    TSNode none = {{0, 0, 0, 0}, NULL, NULL};
    return none;
}
void ts_point_edit(TSPoint *point, uint32_t *byte, const TSInputEdit *edit) {
    (void)point; (void)byte; (void)edit;
}

typedef struct {
    int *v;
    Py_ssize_t n, cap;
} IntStack;

static int push(IntStack *s, int x) {
    if (s->n == s->cap) {
        Py_ssize_t cap = s->cap ? 2 * s->cap : 64;
        int *v = PyMem_Realloc(s->v, (size_t)cap * sizeof(int));
        if (v == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return 0;
}

static int is_node(PyObject *obj) {
    return strcmp(Py_TYPE(obj)->tp_name, "tree_sitter.Node") == 0;
}

/* A Python int, or None for field id 0 (as TreeCursor.field_id). */
static PyObject *field_obj(TSFieldId fid) {
    if (fid == 0) Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(fid);
}

static int append_new(PyObject *list, PyObject *item) {
    if (item == NULL) return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

typedef struct {
    PyObject *w, *lg, *types, *toks, *parent, *leaves, *uses, *spans;
    PyObject *text, *data;
    const unsigned char *acts, *special;
    PyObject *ident_cb, *compound_cb, *clip;
    PyObject *empty;
    /* statement tree (walk._unit): body byte range, lists/dicts of the Walk, field ids */
    long b0, b1, f_init, f_update;
    PyObject *roots, *kids, *parts, *owner;
    Py_ssize_t depth;
} Ctx;

#define BODY (-3)

/* walk._for_part: init/update of a for are their own program points, the rest its head. */
static long for_part(Ctx *c, TSFieldId fid, Py_ssize_t idx, long for_idx) {
    if (fid == 0 || (fid != c->f_init && fid != c->f_update)) return for_idx;
    PyObject *key = Py_BuildValue("(lI)", for_idx, (unsigned)fid);
    PyObject *vi = PyLong_FromSsize_t(idx), *vf = PyLong_FromLong(for_idx);
    int rc = (key && vi && vf && PyDict_SetItem(c->parts, key, vi) == 0 &&
              PyDict_SetItem(c->owner, vi, vf) == 0) ? 0 : -1;
    Py_XDECREF(key); Py_XDECREF(vi); Py_XDECREF(vf);
    return rc < 0 ? LONG_MIN : (long)idx;
}

/* walk._enter_stmt: a statement/block inside the analysed body joins the statement tree. */
static long enter_stmt(Ctx *c, uint32_t a, uint32_t b, Py_ssize_t idx, int par, long unit,
                       int act, Py_ssize_t depth) {
    if (depth > c->depth) c->depth = depth;
    if (!(c->b0 <= (long)a && (long)b <= c->b1)) return unit;
    PyObject *vi = PyLong_FromSsize_t(idx);
    if (vi == NULL) return LONG_MIN;
    int rc;
    if (unit == NO_UNIT) {
        rc = PyList_Append(c->roots, vi);
    } else {
        PyObject *vp = PyLong_FromLong(par), *lst = NULL;
        rc = -1;
        if (vp != NULL) {
            lst = PyDict_GetItemWithError(c->kids, vp); /* borrowed */
            if (lst == NULL && !PyErr_Occurred()) {
                lst = PyList_New(0);
                if (lst != NULL && PyDict_SetItem(c->kids, vp, lst) == 0) {
                    Py_DECREF(lst); /* the dict holds it */
                } else {
                    Py_XDECREF(lst);
                    lst = NULL;
                }
            }
            if (lst != NULL) rc = PyList_Append(lst, vi);
            Py_DECREF(vp);
        }
    }
    Py_DECREF(vi);
    if (rc < 0) return LONG_MIN;
    if (act == A_CONT) return unit == NO_UNIT ? BODY : unit;
    return act == A_FOR ? FOR_MARK - (long)idx : (long)idx;
}

/* The source text of a leaf (new reference): a slice of the ASCII str, or its bytes decoded
 * with replacement, as the Python walk reads it (clipping is the caller's). */
static PyObject *leaf_text(Ctx *c, uint32_t a, uint32_t b) {
    if (c->text != Py_None) return PyUnicode_Substring(c->text, a, b);
    const char *buf = PyBytes_AS_STRING(c->data);
    Py_ssize_t n = PyBytes_GET_SIZE(c->data);
    if ((Py_ssize_t)b > n) b = (uint32_t)n;
    if (a > b) a = b;
    return PyUnicode_DecodeUTF8(buf + a, (Py_ssize_t)(b - a), "replace");
}

static long get_lhs(PyObject *w) {
    PyObject *v = PyObject_GetAttrString(w, "lhs");
    if (v == NULL) return -2;
    long x = PyLong_AsLong(v);
    Py_DECREF(v);
    return x;
}

/* One kept node; returns 1 to descend into its children, 0 not to, -1 on error. */
static int visit(Ctx *c, TSTreeCursor *cur, TSNode node, int act, PyObject *name,
                 IntStack *pst, IntStack *ust, IntStack *spec) {
    Py_ssize_t idx = PyList_GET_SIZE(c->types);
    int par = pst->v[pst->n - 1];
    uint32_t a = ts_node_start_byte(node), b = ts_node_end_byte(node);
    if (PyList_Append(c->types, name) < 0) return -1;
    if (append_new(c->parent, PyLong_FromLong(par)) < 0) return -1;
    if (push(spec, c->special[ts_node_symbol(node)]) < 0) return -1;
    if (c->spans != Py_None && append_new(c->spans, Py_BuildValue("(II)", a, b)) < 0) return -1;
    if (act <= A_CASSIGN) { /* operator/keyword leaf: its type is its text */
        if (PyList_Append(c->toks, name) < 0) return -1;
        if (act == A_CASSIGN) {
            long lhs = get_lhs(c->w);
            if (lhs == -2 && PyErr_Occurred()) return -1;
            if (lhs == idx - 1) {
                PyObject *r = PyObject_CallOneArg(c->compound_cb, c->w);
                if (r == NULL) return -1;
                Py_DECREF(r);
            }
        }
    } else {
        if (act >= A_NAMED) {
            long unit = ust->v[ust->n - 1];
            /* walk._unit: for-parts and statements start their own program point */
            if (unit <= FOR_MARK) {
                unit = for_part(c, ts_tree_cursor_current_field_id(cur), idx, FOR_MARK - unit);
                if (unit == LONG_MIN) return -1;
            }
            if (act > A_NAMED) {
                unit = enter_stmt(c, a, b, idx, par, unit, act, pst->n);
                if (unit == LONG_MIN) return -1;
            }
            if (ts_tree_cursor_goto_first_child(cur)) {
                if (PyList_Append(c->toks, c->empty) < 0) return -1;
                if (push(pst, (int)idx) < 0 || push(ust, (int)unit) < 0) return -1;
                return 1;
            }
        }
        PyObject *tok = leaf_text(c, a, b);
        if (tok == NULL) return -1;
        int rc;
        if (PyUnicode_GET_LENGTH(tok) <= TOKEN_MAX) {
            rc = PyList_Append(c->toks, tok);
        } else {
            rc = append_new(c->toks, PyObject_CallOneArg(c->clip, tok));
        }
        if (rc == 0 && act == A_IDENT) {
            long unit = ust->v[ust->n - 1];
            /* types[par] in _ID_SPECIAL (par -1: the node itself, as types[-1] reads) */
            int special = par >= 0 ? spec->v[par] : spec->v[idx];
            if (special || unit <= FOR_MARK) {
                PyObject *fld = field_obj(ts_tree_cursor_current_field_id(cur));
                PyObject *r = fld == NULL ? NULL : PyObject_CallFunction(
                    c->ident_cb, "OOOIinOl", c->w, c->lg, fld, a, par, idx, tok, unit);
                Py_XDECREF(fld);
                if (r == NULL) rc = -1;
                Py_XDECREF(r);
            } else if (unit >= 0) {
                rc = append_new(c->uses, Py_BuildValue("(nOl)", idx, tok, unit));
            }
        }
        Py_DECREF(tok);
        if (rc < 0) return -1;
    }
    if (append_new(c->leaves, PyLong_FromSsize_t(idx)) < 0) return -1;
    return 0;
}

static PyObject *attr_list(PyObject *w, const char *name) {
    PyObject *v = PyObject_GetAttrString(w, name);
    if (v != NULL && !PyList_CheckExact(v)) {
        PyErr_Format(PyExc_TypeError, "Walk.%s must be a list", name);
        Py_CLEAR(v);
    }
    return v;
}

PyDoc_STRVAR(walk_doc,
"walk(root, w, lg, acts, names, special, f_init, f_update, ident_cb, compound_cb, clip)\n\n"
"Pass 1 over the py-tree-sitter node ``root`` into the empty ``Walk`` ``w`` (see\n"
"vulnfusion.graphs.walk). ``acts``/``special``: bytes of 65536 per-symbol actions and\n"
"'identifier parent is special' flags; ``names``: tuple of 65536 type names; ``f_init``,\n"
"``f_update``: the for-statement field ids; the callbacks: walk._identifier,\n"
"walk._compound_use, schema.clip. Raises TypeError/ValueError on bad arguments and\n"
"whatever a callback raises.");

static PyObject *cwalk_walk(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *root, *w, *lg, *acts, *names, *special, *ident_cb, *compound_cb, *clip;
    long f_init, f_update;
    if (!PyArg_ParseTuple(args, "OOOSO!SllOOO:walk", &root, &w, &lg, &acts, &PyTuple_Type, &names,
                          &special, &f_init, &f_update, &ident_cb, &compound_cb, &clip))
        return NULL;
    if (!is_node(root)) {
        PyErr_SetString(PyExc_TypeError, "walk: root must be a tree_sitter.Node");
        return NULL;
    }
    if (PyBytes_GET_SIZE(acts) != N_SYMBOLS || PyBytes_GET_SIZE(special) != N_SYMBOLS ||
        PyTuple_GET_SIZE(names) != N_SYMBOLS) {
        PyErr_SetString(PyExc_ValueError, "walk: acts, names and special need 65536 entries");
        return NULL;
    }
    Ctx c = {0};
    c.w = w; c.lg = lg;
    c.acts = (const unsigned char *)PyBytes_AS_STRING(acts);
    c.special = (const unsigned char *)PyBytes_AS_STRING(special);
    c.f_init = f_init; c.f_update = f_update;
    c.ident_cb = ident_cb; c.compound_cb = compound_cb; c.clip = clip;
    PyObject *result = NULL;
    TSTreeCursor cur;
    int have_cursor = 0;
    IntStack pst = {0}, ust = {0}, spec = {0};
    /* each read stops at the first failure (its error is the one raised) */
    if (!(c.types = attr_list(w, "types")) || !(c.toks = attr_list(w, "toks")) ||
        !(c.parent = attr_list(w, "parent")) || !(c.leaves = attr_list(w, "leaves")) ||
        !(c.uses = attr_list(w, "uses")) || !(c.roots = attr_list(w, "roots")) ||
        !(c.spans = PyObject_GetAttrString(w, "spans")) ||
        !(c.text = PyObject_GetAttrString(w, "text")) ||
        !(c.data = PyObject_GetAttrString(w, "data")) ||
        !(c.kids = PyObject_GetAttrString(w, "kids")) ||
        !(c.parts = PyObject_GetAttrString(w, "parts")) ||
        !(c.owner = PyObject_GetAttrString(w, "owner")) || !(c.empty = PyUnicode_New(0, 0)))
        goto done;
    PyObject *body = PyObject_GetAttrString(w, "body");
    int body_ok = body != NULL && PyArg_ParseTuple(body, "ll", &c.b0, &c.b1);
    Py_XDECREF(body);
    if (!body_ok) goto done;
    PyObject *depth = PyObject_GetAttrString(w, "depth");
    c.depth = depth == NULL ? -1 : PyLong_AsSsize_t(depth);
    Py_XDECREF(depth);
    if (c.depth == -1 && PyErr_Occurred()) goto done;
    if (!PyDict_CheckExact(c.kids) || !PyDict_CheckExact(c.parts) || !PyDict_CheckExact(c.owner)) {
        PyErr_SetString(PyExc_TypeError, "walk: Walk.kids, parts and owner must be dicts");
        goto done;
    }
    if (!PyBytes_Check(c.data) || (c.text != Py_None && !PyUnicode_Check(c.text)) ||
        (c.spans != Py_None && !PyList_CheckExact(c.spans))) {
        PyErr_SetString(PyExc_TypeError, "walk: Walk.data must be bytes, text str or None, "
                                         "spans a list or None");
        goto done;
    }
    if (PyList_GET_SIZE(c.types) != 0) {
        PyErr_SetString(PyExc_ValueError, "walk: the Walk must be empty");
        goto done;
    }
    if (push(&pst, -1) < 0 || push(&ust, NO_UNIT) < 0) goto done;
    cur = ts_tree_cursor_new(((PyTSNode *)root)->node);
    have_cursor = 1;
    for (;;) {
        TSNode node = ts_tree_cursor_current_node(&cur);
        TSSymbol sym = ts_node_symbol(node);
        int act = c.acts[sym];
        if (act) {
            int rc = visit(&c, &cur, node, act, PyTuple_GET_ITEM(names, sym), &pst, &ust, &spec);
            if (rc < 0) goto done;
            if (rc > 0) continue;
        }
        while (!ts_tree_cursor_goto_next_sibling(&cur)) {
            if (!ts_tree_cursor_goto_parent(&cur)) {
                PyObject *d = PyLong_FromSsize_t(c.depth);
                if (d != NULL && PyObject_SetAttrString(w, "depth", d) == 0) {
                    result = Py_None;
                    Py_INCREF(result);
                }
                Py_XDECREF(d);
                goto done;
            }
            pst.n--;
            ust.n--;
        }
    }
done:
    if (have_cursor) ts_tree_cursor_delete(&cur);
    PyMem_Free(pst.v);
    PyMem_Free(ust.v);
    PyMem_Free(spec.v);
    Py_XDECREF(c.types); Py_XDECREF(c.toks); Py_XDECREF(c.parent); Py_XDECREF(c.leaves);
    Py_XDECREF(c.uses); Py_XDECREF(c.spans); Py_XDECREF(c.text); Py_XDECREF(c.data);
    Py_XDECREF(c.empty); Py_XDECREF(c.roots); Py_XDECREF(c.kids); Py_XDECREF(c.parts);
    Py_XDECREF(c.owner);
    return result;
}

PyDoc_STRVAR(check_doc,
"check_node(node) -> (kind_id, start_byte, end_byte, child_count)\n\n"
"What this module reads from a py-tree-sitter Node: compared with the Node's own\n"
"properties before the walk is trusted (a layout or runtime mismatch shows there).");

static PyObject *cwalk_check_node(PyObject *self, PyObject *node) {
    (void)self;
    if (!is_node(node)) {
        PyErr_SetString(PyExc_TypeError, "check_node: not a tree_sitter.Node");
        return NULL;
    }
    TSNode n = ((PyTSNode *)node)->node;
    return Py_BuildValue("(IIII)", (unsigned)ts_node_symbol(n), ts_node_start_byte(n),
                         ts_node_end_byte(n), ts_node_child_count(n));
}

/* _reaching.c: pass 3 (reaching definitions) */
PyObject *cwalk_dfg_edges(PyObject *self, PyObject *args);
extern const char cwalk_dfg_doc[];

static PyMethodDef methods[] = {
    {"walk", cwalk_walk, METH_VARARGS, walk_doc},
    {"dfg_edges", cwalk_dfg_edges, METH_VARARGS, cwalk_dfg_doc},
    {"check_node", cwalk_check_node, METH_O, check_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cwalk", "Pass 1 of vulnfusion's graph builder, in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cwalk(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "API_VERSION", API_VERSION) < 0 ||
        PyModule_AddStringConstant(m, "TREE_SITTER", "0.26.1") < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
