/* Pass 3 of the graph builder in C: reaching definitions, emitted as def -> use edges.
 *
 * Part of the vulnfusion.graphs._cwalk module (its method table lists dfg_edges). The same
 * analysis as dfg.py's pure-Python reference, which it must equal edge for edge
 * (tests/unit/test_native_walk.py): the classic forward may-analysis (Aho, Lam, Sethi &
 * Ullman, "Compilers", 2nd ed., section 9.2.4)
 *
 *     IN[p] = U OUT[pred p]        OUT[p] = GEN[p] | (IN[p] & ~KILL[p])
 *
 * over the control-flow edges' program points, with one bit per definition of a declared
 * variable. GEN[p] holds the last definition of each variable at p, KILL[p] every
 * definition of the variables defined at p. The least fixpoint does not depend on the
 * worklist order, so a FIFO worklist gives the reference's IN sets; the edges come out in
 * the reference's order (uses in pre-order, then definitions in pre-order).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY (-2) /* schema.ENTRY: the program point of the parameters */
/* bitset words per array above which the caller's Python reference is used instead */
#define MAX_WORDS ((size_t)1 << 22)

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* index of unit in the sorted array units[0..n), or -1 */
static Py_ssize_t unit_index(const long *units, Py_ssize_t n, long unit) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (units[mid] < unit)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && units[lo] == unit ? lo : -1;
}

/* item k of a tuple that must have at least n items, else NULL with TypeError */
static PyObject *item(PyObject *t, Py_ssize_t n, Py_ssize_t k, const char *what) {
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) < n) {
        PyErr_Format(PyExc_TypeError, "dfg_edges() %s must be tuples of %zd items", what, n);
        return NULL;
    }
    return PyTuple_GET_ITEM(t, k);
}

static int as_long(PyObject *o, long *out) {
    *out = PyLong_AsLong(o);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

const char cwalk_dfg_doc[] =
    "dfg_edges(defs, uses, edges, cap) -> list[tuple[int, int]] | None\n\n"
    "dfg.dfg_edges on a Walk's defs and uses and the cfg's edges; None when the "
    "bitsets would exceed the size limit (then run the Python reference).";

PyObject *cwalk_dfg_edges(PyObject *self, PyObject *args) {
    PyObject *defs, *uses, *edges;
    long cap;
    if (!PyArg_ParseTuple(args, "O!O!O!l:dfg_edges", &PyList_Type, &defs, &PyList_Type, &uses,
                          &PyList_Type, &edges, &cap))
        return NULL;
    PyObject *out = NULL, *var_id = PyDict_New();
    long *d_node = NULL, *d_unit = NULL, *units = NULL;
    Py_ssize_t *d_var = NULL, *pred_at = NULL, *preds = NULL, *succ_at = NULL, *succs = NULL;
    Py_ssize_t *queue = NULL;
    uint64_t *mask = NULL, *gen = NULL, *keep = NULL, *outs = NULL, *ins = NULL;
    char *queued = NULL;
    if (var_id == NULL) return NULL;

    /* the declared variables (ids in order of first declaration), then their definitions */
    Py_ssize_t n_defs = PyList_GET_SIZE(defs), n_vars = 0, nd = 0;
    for (Py_ssize_t i = 0; i < n_defs; i++) {
        PyObject *d = PyList_GET_ITEM(defs, i), *name = item(d, 4, 1, "defs");
        if (name == NULL) goto done;
        int decl = PyObject_IsTrue(PyTuple_GET_ITEM(d, 3));
        if (decl < 0) goto done;
        if (decl) {
            int has = PyDict_Contains(var_id, name);
            if (has < 0) goto done;
            if (!has) {
                PyObject *v = PyLong_FromSsize_t(n_vars++);
                int rc = v == NULL ? -1 : PyDict_SetItem(var_id, name, v);
                Py_XDECREF(v);
                if (rc < 0) goto done;
            }
        }
    }
    d_node = PyMem_Malloc(sizeof(long) * (n_defs + 1));
    d_unit = PyMem_Malloc(sizeof(long) * (n_defs + 1));
    d_var = PyMem_Malloc(sizeof(Py_ssize_t) * (n_defs + 1));
    if (!d_node || !d_unit || !d_var) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_defs; i++) {
        PyObject *d = PyList_GET_ITEM(defs, i);
        PyObject *v = PyDict_GetItemWithError(var_id, PyTuple_GET_ITEM(d, 1));
        if (v == NULL) {
            if (PyErr_Occurred()) goto done;
            continue;
        }
        if (as_long(PyTuple_GET_ITEM(d, 0), &d_node[nd]) < 0 ||
            as_long(PyTuple_GET_ITEM(d, 2), &d_unit[nd]) < 0)
            goto done;
        d_var[nd++] = PyLong_AsSsize_t(v);
    }
    out = PyList_New(0);
    if (out == NULL || nd == 0) goto done;

    /* program points: ENTRY and every edge end, sorted; CSR predecessors and successors */
    Py_ssize_t n_edges = PyList_GET_SIZE(edges), n = 0;
    units = PyMem_Malloc(sizeof(long) * (2 * n_edges + 1));
    if (units == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    units[n++] = ENTRY;
    for (Py_ssize_t i = 0; i < n_edges; i++) {
        PyObject *e = PyList_GET_ITEM(edges, i), *a = item(e, 2, 0, "edges");
        if (a == NULL || as_long(a, &units[n]) < 0 || as_long(PyTuple_GET_ITEM(e, 1), &units[n + 1]) < 0)
            goto fail;
        n += 2;
    }
    qsort(units, (size_t)n, sizeof(long), cmp_long);
    Py_ssize_t u = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (i == 0 || units[i] != units[i - 1]) units[u++] = units[i];
    size_t words = ((size_t)nd + 63) / 64;
    if ((size_t)u * words > MAX_WORDS || (size_t)n_vars * words > MAX_WORDS) {
        Py_CLEAR(out); /* None: too large for dense bitsets here */
        goto done;
    }
    pred_at = PyMem_Calloc((size_t)u + 1, sizeof(Py_ssize_t));
    succ_at = PyMem_Calloc((size_t)u + 1, sizeof(Py_ssize_t));
    preds = PyMem_Malloc(sizeof(Py_ssize_t) * (n_edges + 1));
    succs = PyMem_Malloc(sizeof(Py_ssize_t) * (n_edges + 1));
    queue = PyMem_Malloc(sizeof(Py_ssize_t) * ((size_t)u + 1));
    queued = PyMem_Malloc((size_t)u + 1);
    mask = PyMem_Calloc((size_t)n_vars * words, sizeof(uint64_t));
    gen = PyMem_Calloc((size_t)u * words, sizeof(uint64_t));
    keep = PyMem_Calloc((size_t)u * words, sizeof(uint64_t));
    outs = PyMem_Calloc((size_t)u * words, sizeof(uint64_t));
    ins = PyMem_Calloc((size_t)u * words, sizeof(uint64_t));
    if (!pred_at || !succ_at || !preds || !succs || !queue || !queued || !mask || !gen || !keep ||
        !outs || !ins) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n_edges; i++) {
        PyObject *e = PyList_GET_ITEM(edges, i);
        long a = PyLong_AsLong(PyTuple_GET_ITEM(e, 0)), b = PyLong_AsLong(PyTuple_GET_ITEM(e, 1));
        pred_at[unit_index(units, u, b) + 1]++;
        succ_at[unit_index(units, u, a) + 1]++;
    }
    for (Py_ssize_t i = 0; i < u; i++) {
        pred_at[i + 1] += pred_at[i];
        succ_at[i + 1] += succ_at[i];
    }
    {
        Py_ssize_t *pf = PyMem_Malloc(sizeof(Py_ssize_t) * ((size_t)u + 1));
        Py_ssize_t *sf = PyMem_Malloc(sizeof(Py_ssize_t) * ((size_t)u + 1));
        if (!pf || !sf) {
            PyMem_Free(pf);
            PyMem_Free(sf);
            PyErr_NoMemory();
            goto fail;
        }
        memcpy(pf, pred_at, sizeof(Py_ssize_t) * (size_t)u);
        memcpy(sf, succ_at, sizeof(Py_ssize_t) * (size_t)u);
        for (Py_ssize_t i = 0; i < n_edges; i++) {
            PyObject *e = PyList_GET_ITEM(edges, i);
            long a = PyLong_AsLong(PyTuple_GET_ITEM(e, 0)), b = PyLong_AsLong(PyTuple_GET_ITEM(e, 1));
            Py_ssize_t ia = unit_index(units, u, a), ib = unit_index(units, u, b);
            preds[pf[ib]++] = ia;
            succs[sf[ia]++] = ib;
        }
        PyMem_Free(pf);
        PyMem_Free(sf);
    }

    /* per variable, its definitions; per point, GEN (last definition of each variable
       there) and KILL (all definitions of the variables defined there) */
    for (Py_ssize_t d = 0; d < nd; d++) mask[d_var[d] * words + d / 64] |= (uint64_t)1 << (d % 64);
    for (Py_ssize_t d = 0; d < nd; d++) {
        Py_ssize_t p = unit_index(units, u, d_unit[d]);
        if (p < 0) continue; /* a point without edges: never read */
        uint64_t *g = gen + p * words, *k = keep + p * words, *m = mask + d_var[d] * words;
        for (size_t w = 0; w < words; w++) {
            g[w] &= ~m[w];
            k[w] |= m[w];
        }
        g[d / 64] |= (uint64_t)1 << (d % 64);
    }
    for (size_t i = 0; i < (size_t)u * words; i++) {
        keep[i] = ~keep[i];
        outs[i] = gen[i];
    }

    /* the fixpoint: every point once, then again whenever a predecessor's OUT changed */
    Py_ssize_t head = 0, count = u;
    for (Py_ssize_t i = 0; i < u; i++) {
        queue[i] = i;
        queued[i] = 1;
    }
    while (count > 0) {
        Py_ssize_t i = queue[head];
        head = (head + 1) % u;
        count--;
        queued[i] = 0;
        uint64_t *in = ins + i * words, *o = outs + i * words, *g = gen + i * words;
        uint64_t *k = keep + i * words;
        memset(in, 0, words * sizeof(uint64_t));
        for (Py_ssize_t j = pred_at[i]; j < pred_at[i + 1]; j++) {
            const uint64_t *po = outs + preds[j] * words;
            for (size_t w = 0; w < words; w++) in[w] |= po[w];
        }
        int changed = 0;
        for (size_t w = 0; w < words; w++) {
            uint64_t v = g[w] | (in[w] & k[w]);
            if (v != o[w]) {
                o[w] = v;
                changed = 1;
            }
        }
        if (!changed) continue;
        for (Py_ssize_t j = succ_at[i]; j < succ_at[i + 1]; j++) {
            Py_ssize_t s = succs[j];
            if (!queued[s]) {
                queued[s] = 1;
                queue[(head + count) % u] = s;
                count++;
            }
        }
    }

    /* def -> use edges between the first cap nodes (definitions are in pre-order) */
    Py_ssize_t live = 0;
    for (Py_ssize_t d = 0; d < nd; d++) live += d_node[d] < cap;
    Py_ssize_t n_uses = PyList_GET_SIZE(uses);
    for (Py_ssize_t i = 0; i < n_uses; i++) {
        PyObject *use = PyList_GET_ITEM(uses, i), *name = item(use, 3, 1, "uses");
        long node, unit;
        if (name == NULL || as_long(PyTuple_GET_ITEM(use, 0), &node) < 0) goto fail;
        if (node >= cap) break; /* uses are in pre-order too */
        if (as_long(PyTuple_GET_ITEM(use, 2), &unit) < 0) goto fail;
        PyObject *v = PyDict_GetItemWithError(var_id, name);
        if (v == NULL) {
            if (PyErr_Occurred()) goto fail;
            continue;
        }
        Py_ssize_t p = unit_index(units, u, unit);
        if (p < 0) continue;
        const uint64_t *in = ins + p * words, *m = mask + PyLong_AsSsize_t(v) * words;
        for (size_t w = 0; w < words && (Py_ssize_t)(w * 64) < live; w++) {
            uint64_t bits = in[w] & m[w];
            while (bits) {
                Py_ssize_t d = (Py_ssize_t)(w * 64) + __builtin_ctzll(bits);
                bits &= bits - 1;
                if (d >= live) break;
                PyObject *edge = Py_BuildValue("(ll)", d_node[d], node);
                if (edge == NULL || PyList_Append(out, edge) < 0) {
                    Py_XDECREF(edge);
                    goto fail;
                }
                Py_DECREF(edge);
            }
        }
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    Py_DECREF(var_id);
    PyMem_Free(d_node);
    PyMem_Free(d_unit);
    PyMem_Free(d_var);
    PyMem_Free(units);
    PyMem_Free(pred_at);
    PyMem_Free(succ_at);
    PyMem_Free(preds);
    PyMem_Free(succs);
    PyMem_Free(queue);
    PyMem_Free(queued);
    PyMem_Free(mask);
    PyMem_Free(gen);
    PyMem_Free(keep);
    PyMem_Free(outs);
    PyMem_Free(ins);
    if (out == NULL && !PyErr_Occurred()) Py_RETURN_NONE;
    return out;
}
