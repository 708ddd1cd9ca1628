/*
 * graph.c - the dependency graph of installed packages, its strongly
 * connected components (Tarjan, iterative: Debian's graph is shallow but a
 * hostile or odd database may chain thousands deep) and the root set.
 */
#include "pkg_internal.h"

#include <stdlib.h>
#include <string.h>

/* One way a package answers to a name: its own name, a provide, or (rpm)
 * a path it owns, stored as "/path". */
struct prov {
	const char *name;
	const char *version; /* NULL: unversioned */
	size_t pkg;
	int is_self;
};

struct pkg_graph {
	const struct pkg_db *db;
	size_t n;         /* packages: nodes 0..n-1 */
	size_t nnodes;    /* and provider groups: nodes n..nnodes-1 */
	size_t *off, *to; /* CSR adjacency over all nodes: to[off[i]..off[i+1]) */
	size_t unresolved;
	size_t *scc;      /* node -> SCC over all nodes */
	size_t nscc;
	size_t *comp;     /* package -> component (the SCCs holding packages) */
	size_t ncomp;
	size_t *coff, *cmem; /* component members, CSR, sorted */
	size_t *roots, nroots;
	size_t *cycles, ncycles;
};

static int prov_cmp(const void *x, const void *y)
{
	const struct prov *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	if (c)
		return c;
	return a->pkg < b->pkg ? -1 : a->pkg > b->pkg;
}

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int size_cmp(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;

	return a < b ? -1 : a > b;
}

static void prov_add(struct prov **v, size_t *n, const char *name, const char *version,
		     size_t pkg, int self)
{
	if (pkg_need_grow(*n))
		*v = ut_realloc(*v, (*n ? *n * 2 : 1) * sizeof(**v));
	(*v)[*n].name = name;
	(*v)[*n].version = version;
	(*v)[*n].pkg = pkg;
	(*v)[*n].is_self = self;
	(*n)++;
}

static int rel_holds(enum pkg_rel rel, int c)
{
	switch (rel) {
	case PKG_REL_LT:
		return c < 0;
	case PKG_REL_LE:
		return c <= 0;
	case PKG_REL_EQ:
		return c == 0;
	case PKG_REL_GE:
		return c >= 0;
	case PKG_REL_GT:
		return c > 0;
	default:
		return 1;
	}
}

static int satisfies(const struct pkg_db *db, const struct pkg *from, const struct pkg_dep_alt *a,
		     const struct prov *pv)
{
	const struct pkg *to = &db->v[pv->pkg];
	int deb = !strcmp(db->format, "deb");

	if (deb && pv->is_self && a->archq) {
		/* "pkg:any" and "pkg:native" we accept for any arch (the
		 * native arch is not recorded per package); "pkg:amd64" only
		 * for that arch. */
		if (strcmp(a->archq, "any") && strcmp(a->archq, "native") &&
		    strcmp(to->arch, a->archq) && strcmp(to->arch, "all"))
			return 0;
	} else if (deb && pv->is_self && to->multiarch_same && *from->arch &&
		   strcmp(from->arch, "all") && strcmp(to->arch, "all") &&
		   strcmp(from->arch, to->arch)) {
		/* An unqualified dependency on a Multi-Arch: same package
		 * wants the depender's own arch. */
		return 0;
	}
	if (a->rel == PKG_REL_ANY || !a->version)
		return 1;
	if (!pv->version)
		/* rpm lets an unversioned provide satisfy any version; dpkg
		 * and pacman do not. */
		return !strcmp(db->format, "rpm");
	switch (a->rel) {
	case PKG_REL_FUZZY_EQ:
		return pkg_apk_vercmp_fuzzy(pv->version, a->version) == 0;
	case PKG_REL_FUZZY_GE:
		return pkg_apk_vercmp_fuzzy(pv->version, a->version) >= 0;
	case PKG_REL_FUZZY_LE:
		return pkg_apk_vercmp_fuzzy(pv->version, a->version) <= 0;
	default:
		return rel_holds(a->rel, pkg_vercmp_str(db->format, pv->version, a->version));
	}
}

/* Iterative Tarjan over every node, packages and provider groups. SCC ids
 * come out in completion order: an edge between two SCCs always goes from
 * a higher id to a lower one. */
static void tarjan(struct pkg_graph *g)
{
	size_t n = g->nnodes, idx = 0, sp = 0, cs = 0, i;
	size_t *index = ut_malloc((n + 1) * sizeof(size_t));
	size_t *low = ut_malloc((n + 1) * sizeof(size_t));
	size_t *stack = ut_malloc((n + 1) * sizeof(size_t));
	size_t *cnode = ut_malloc((n + 1) * sizeof(size_t));
	size_t *cedge = ut_malloc((n + 1) * sizeof(size_t));
	unsigned char *on = ut_calloc(n + 1, 1);
	const size_t UNSEEN = (size_t)-1;

	for (i = 0; i < n; i++)
		index[i] = UNSEEN;
	g->scc = ut_malloc((n + 1) * sizeof(size_t));
	g->nscc = 0;
	for (i = 0; i < n; i++) {
		if (index[i] != UNSEEN)
			continue;
		index[i] = low[i] = idx++;
		stack[sp++] = i;
		on[i] = 1;
		cnode[cs] = i;
		cedge[cs] = g->off[i];
		cs++;
		while (cs) {
			size_t v = cnode[cs - 1];

			if (cedge[cs - 1] < g->off[v + 1]) {
				size_t w = g->to[cedge[cs - 1]++];

				if (index[w] == UNSEEN) {
					index[w] = low[w] = idx++;
					stack[sp++] = w;
					on[w] = 1;
					cnode[cs] = w;
					cedge[cs] = g->off[w];
					cs++;
				} else if (on[w] && index[w] < low[v]) {
					low[v] = index[w];
				}
				continue;
			}
			/* v is done: close its component, hand low up. */
			if (low[v] == index[v]) {
				size_t w;

				do {
					w = stack[--sp];
					on[w] = 0;
					g->scc[w] = g->nscc;
				} while (w != v);
				g->nscc++;
			}
			cs--;
			if (cs) {
				size_t u = cnode[cs - 1];

				if (low[v] < low[u])
					low[u] = low[v];
			}
		}
	}
	free(index);
	free(low);
	free(stack);
	free(cnode);
	free(cedge);
	free(on);
}

/*
 * The components callers see are the SCCs that hold packages, numbered in
 * SCC order; an SCC of provider groups alone is no component. Roots are the
 * SCCs nothing enters: a provider group always has a depender outside its
 * SCC or a package inside it, so every such SCC holds a package.
 */
static void condense(struct pkg_graph *g)
{
	size_t n = g->n, i, e, c;
	size_t *fill = ut_calloc(g->nscc + 1, sizeof(size_t));
	size_t *comp_of_scc = ut_malloc((g->nscc + 1) * sizeof(size_t));
	unsigned char *incoming = ut_calloc(g->nscc + 1, 1);
	const size_t NONE = (size_t)-1;

	for (c = 0; c < g->nscc; c++)
		comp_of_scc[c] = NONE;
	for (i = 0; i < n; i++)
		comp_of_scc[g->scc[i]] = 0;
	g->ncomp = 0;
	for (c = 0; c < g->nscc; c++)
		if (comp_of_scc[c] != NONE)
			comp_of_scc[c] = g->ncomp++;
	g->comp = ut_malloc((n + 1) * sizeof(size_t));
	for (i = 0; i < n; i++)
		g->comp[i] = comp_of_scc[g->scc[i]];
	g->coff = ut_calloc(g->ncomp + 2, sizeof(size_t));
	g->cmem = ut_malloc((n + 1) * sizeof(size_t));
	for (i = 0; i < n; i++)
		g->coff[g->comp[i] + 1]++;
	for (c = 0; c < g->ncomp; c++)
		g->coff[c + 1] += g->coff[c];
	/* Nodes in index order are in name order, so members come sorted. */
	for (i = 0; i < n; i++) {
		c = g->comp[i];
		g->cmem[g->coff[c] + fill[c]++] = i;
	}
	for (i = 0; i < g->nnodes; i++)
		for (e = g->off[i]; e < g->off[i + 1]; e++)
			if (g->scc[g->to[e]] != g->scc[i])
				incoming[g->scc[g->to[e]]] = 1;
	g->roots = ut_malloc((g->ncomp + 1) * sizeof(size_t));
	g->cycles = ut_malloc((g->ncomp + 1) * sizeof(size_t));
	for (c = 0; c < g->nscc; c++)
		if (!incoming[c] && comp_of_scc[c] != NONE)
			g->roots[g->nroots++] = g->cmem[g->coff[comp_of_scc[c]]];
	for (c = 0; c < g->ncomp; c++)
		if (g->coff[c + 1] - g->coff[c] > 1)
			g->cycles[g->ncycles++] = c;
	if (g->nroots > 1)
		qsort(g->roots, g->nroots, sizeof(size_t), size_cmp);
	free(fill);
	free(comp_of_scc);
	free(incoming);
}

/*
 * One dependency alternative as asked by one package. Requests that ask
 * the same thing (name, arch qualifier, relation, version, and the
 * depender's arch where Multi-Arch: same makes it matter) share one
 * answer, worked out once: n packages depending on one virtual name cost
 * one scan of its providers, not n.
 */
struct req {
	const struct pkg_dep_alt *alt;
	const char *farch; /* the depender's arch when it matters, else "" */
	size_t pkg;        /* the depender */
	size_t dep;        /* its dependency group */
};

static int opt_cmp(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int req_cmp(const void *x, const void *y)
{
	const struct req *a = x, *b = y;
	int c = strcmp(a->alt->name, b->alt->name);

	if (!c)
		c = opt_cmp(a->alt->archq, b->alt->archq);
	if (!c)
		c = (int)a->alt->rel - (int)b->alt->rel;
	if (!c)
		c = opt_cmp(a->alt->rel == PKG_REL_ANY ? NULL : a->alt->version,
			    b->alt->rel == PKG_REL_ANY ? NULL : b->alt->version);
	if (!c)
		c = strcmp(a->farch, b->farch);
	if (!c)
		c = a->pkg < b->pkg ? -1 : a->pkg > b->pkg;
	return c;
}

static int req_same(const struct req *a, const struct req *b)
{
	struct req x = *a, y = *b;

	x.pkg = y.pkg = 0;
	return req_cmp(&x, &y) == 0;
}

/*
 * Above this many spare edges a request shared by d dependers and answered
 * by p providers gets a provider-group node (d + p edges) instead of d * p
 * direct edges: the edge count stays linear in the input (at most the
 * requests, the answers and this much per distinct request) and the real
 * databases, where no request comes near it, keep their plain graph.
 */
#define PKG_GROUP_SLACK 64

struct edge_list {
	size_t (*v)[2];
	size_t n;
};

static void edge_add(struct edge_list *l, size_t a, size_t b)
{
	if (pkg_need_grow(l->n))
		l->v = ut_realloc(l->v, (l->n ? l->n * 2 : 1) * sizeof(*l->v));
	l->v[l->n][0] = a;
	l->v[l->n][1] = b;
	l->n++;
}

/* Sorts pv by name; pv[lo..hi) are the provides answering key's name. */
static void prov_range(const struct prov *pv, size_t npv, const char *name, size_t *lo_out,
		       size_t *hi_out)
{
	struct prov key = { .name = name, .pkg = 0 };
	size_t lo = 0, hi = npv;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (prov_cmp(&pv[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*lo_out = lo;
	for (hi = lo; hi < npv && !strcmp(pv[hi].name, name); hi++)
		;
	*hi_out = hi;
}

static void resolve(struct pkg_graph *g, const struct prov *pv, size_t npv, struct edge_list *el)
{
	const struct pkg_db *db = g->db;
	int deb = !strcmp(db->format, "deb");
	struct req *rq = NULL;
	size_t nrq = 0, i, j, k, r, end, *ans = NULL, nans = 0, cap = 0, nfound = 0;
	unsigned char *found;
	size_t *dep_base = ut_malloc((db->n + 1) * sizeof(size_t));

	/* Every dependency group gets a flat number, for "answered at all". */
	for (i = 0; i < db->n; i++) {
		dep_base[i] = nfound;
		nfound += db->v[i].ndeps;
	}
	found = ut_calloc(nfound + 1, 1);
	/* A rich dependency's if/unless branch may rightly be missing. */
	for (i = 0; i < db->n; i++)
		for (j = 0; j < db->v[i].ndeps; j++)
			if (db->v[i].deps[j].conditional)
				found[dep_base[i] + j] = 1;
	for (i = 0; i < db->n; i++) {
		const struct pkg *p = &db->v[i];
		int farch = *p->arch && strcmp(p->arch, "all");

		for (j = 0; j < p->ndeps; j++)
			for (k = 0; k < p->deps[j].nalts; k++) {
				if (pkg_need_grow(nrq))
					rq = ut_realloc(rq, (nrq ? nrq * 2 : 1) * sizeof(*rq));
				rq[nrq].alt = &p->deps[j].alts[k];
				rq[nrq].farch = deb && !rq[nrq].alt->archq && farch ? p->arch : "";
				rq[nrq].pkg = i;
				rq[nrq].dep = dep_base[i] + j;
				nrq++;
			}
	}
	if (nrq > 1)
		qsort(rq, nrq, sizeof(*rq), req_cmp);
	for (r = 0; r < nrq; r = end) {
		size_t lo, hi, d;

		for (end = r + 1; end < nrq && req_same(&rq[r], &rq[end]); end++)
			;
		d = end - r;
		nans = 0;
		prov_range(pv, npv, rq[r].alt->name, &lo, &hi);
		for (; lo < hi; lo++) {
			if (!satisfies(db, &db->v[rq[r].pkg], rq[r].alt, &pv[lo]))
				continue;
			if (nans == cap) {
				cap = cap ? cap * 2 : 16;
				ans = ut_realloc(ans, cap * sizeof(*ans));
			}
			ans[nans++] = pv[lo].pkg;
		}
		if (!nans)
			continue;
		for (i = r; i < end; i++)
			found[rq[i].dep] = 1;
		if (d * nans > d + nans + PKG_GROUP_SLACK) {
			size_t grp = g->nnodes++;

			for (i = r; i < end; i++)
				edge_add(el, rq[i].pkg, grp);
			for (k = 0; k < nans; k++)
				edge_add(el, grp, ans[k]);
		} else {
			for (i = r; i < end; i++)
				for (k = 0; k < nans; k++)
					if (ans[k] != rq[i].pkg)
						edge_add(el, rq[i].pkg, ans[k]);
		}
	}
	for (i = 0; i < nfound; i++)
		if (!found[i])
			g->unresolved++;
	free(rq);
	free(ans);
	free(found);
	free(dep_base);
}

/* CSR: count, prefix sums, fill, then sort and unique each row. */
static void build_csr(struct pkg_graph *g, const struct edge_list *el)
{
	size_t i, k, *fill = ut_calloc(g->nnodes + 1, sizeof(size_t));
	size_t w = 0, start = 0;

	g->off = ut_calloc(g->nnodes + 2, sizeof(size_t));
	g->to = ut_malloc((el->n + 1) * sizeof(size_t));
	for (i = 0; i < el->n; i++)
		g->off[el->v[i][0] + 1]++;
	for (i = 0; i < g->nnodes; i++)
		g->off[i + 1] += g->off[i];
	for (i = 0; i < el->n; i++) {
		size_t a = el->v[i][0];

		g->to[g->off[a] + fill[a]++] = el->v[i][1];
	}
	for (i = 0; i < g->nnodes; i++) {
		size_t s = start, e = g->off[i + 1], last = (size_t)-1;

		start = e;
		if (e - s > 1)
			qsort(g->to + s, e - s, sizeof(size_t), size_cmp);
		g->off[i] = w;
		for (k = s; k < e; k++)
			if (g->to[k] != last)
				last = g->to[w++] = g->to[k];
	}
	g->off[g->nnodes] = w;
	free(fill);
}

int pkg_graph_build(const struct pkg_db *db, struct pkg_graph **out, struct ut_err *err)
{
	struct pkg_graph *g = ut_calloc(1, sizeof(*g));
	struct prov *pv = NULL;
	size_t npv = 0, i, j, k, nfreq = 0;
	const char **freq = NULL; /* file requires, sorted, as "/path" */
	char **fnames = NULL;     /* "/path" strings we made */
	size_t nfnames = 0;
	struct edge_list el = { 0 };

	(void)err;
	g->db = db;
	g->n = g->nnodes = db->n;
	for (i = 0; i < db->n; i++) {
		const struct pkg *p = &db->v[i];

		prov_add(&pv, &npv, p->name,
			 !strcmp(db->format, "deb") ? p->display_version :
			 NULL, i, 1);
		for (j = 0; j < p->nprovides; j++)
			prov_add(&pv, &npv, p->provides[j].name, p->provides[j].version, i, 0);
		for (j = 0; j < p->ndeps; j++)
			for (k = 0; k < p->deps[j].nalts; k++)
				if (p->deps[j].alts[k].name[0] == '/') {
					if (pkg_need_grow(nfreq))
						freq = ut_realloc(freq, (nfreq ? nfreq * 2 : 1) *
								  sizeof(*freq));
					freq[nfreq++] = p->deps[j].alts[k].name;
				}
	}
	/* A package's own version, for rpm/apk/pacman, is its E:V-R. */
	if (strcmp(db->format, "deb")) {
		for (i = 0; i < npv; i++) {
			if (pv[i].is_self) {
				const struct pkg *p = &db->v[pv[i].pkg];
				char *evr = p->epoch >= 0 ?
					ut_asprintf("%lld:%s%s%s", (long long)p->epoch, p->version,
						    *p->release ? "-" : "", p->release) :
					ut_asprintf("%s%s%s", p->version, *p->release ? "-" : "",
						    p->release);

				if (pkg_need_grow(nfnames))
					fnames = ut_realloc(fnames, (nfnames ? nfnames * 2 : 1) *
							    sizeof(*fnames));
				fnames[nfnames++] = evr;
				pv[i].version = evr;
			}
		}
	}
	/* File requires ("/bin/sh") are answered by the owners of the path. */
	if (nfreq) {
		qsort(freq, nfreq, sizeof(*freq), str_cmp);
		for (i = 0; i < db->n; i++)
			for (j = 0; j < db->v[i].nfiles; j++) {
				char *key = ut_asprintf("/%s", db->v[i].files[j].path);

				if (bsearch(&key, freq, nfreq, sizeof(*freq), str_cmp)) {
					if (pkg_need_grow(nfnames))
						fnames = ut_realloc(fnames, (nfnames ? nfnames * 2 : 1) *
								    sizeof(*fnames));
					fnames[nfnames++] = key;
					prov_add(&pv, &npv, key, NULL, i, 0);
				} else {
					free(key);
				}
			}
	}
	if (npv > 1)
		qsort(pv, npv, sizeof(*pv), prov_cmp);
	resolve(g, pv, npv, &el);
	build_csr(g, &el);
	free(el.v);
	tarjan(g);
	condense(g);
	for (i = 0; i < nfnames; i++)
		free(fnames[i]);
	free(fnames);
	free(freq);
	free(pv);
	*out = g;
	return 0;
}

void pkg_graph_free(struct pkg_graph *g)
{
	if (!g)
		return;
	free(g->off);
	free(g->to);
	free(g->scc);
	free(g->comp);
	free(g->coff);
	free(g->cmem);
	free(g->roots);
	free(g->cycles);
	free(g);
}

size_t pkg_graph_successors(const struct pkg_graph *g, size_t i, size_t **to)
{
	size_t e, k, n = 0, cap = 16, w = 0;
	size_t *v = ut_malloc(cap * sizeof(*v));

	for (e = g->off[i]; e < g->off[i + 1]; e++) {
		size_t t = g->to[e], from = t, upto = t + 1;

		if (t >= g->n) { /* a provider group: its providers */
			from = g->off[t];
			upto = g->off[t + 1];
		}
		for (k = from; k < upto; k++) {
			size_t p = t >= g->n ? g->to[k] : t;

			if (p == i)
				continue;
			if (n == cap) {
				cap *= 2;
				v = ut_realloc(v, cap * sizeof(*v));
			}
			v[n++] = p;
		}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), size_cmp);
	for (k = 0; k < n; k++)
		if (!w || v[w - 1] != v[k])
			v[w++] = v[k];
	*to = v;
	return w;
}

size_t pkg_graph_unresolved(const struct pkg_graph *g)
{
	return g->unresolved;
}

size_t pkg_graph_ncomponents(const struct pkg_graph *g)
{
	return g->ncomp;
}

size_t pkg_graph_component_of(const struct pkg_graph *g, size_t i)
{
	return g->comp[i];
}

size_t pkg_graph_component(const struct pkg_graph *g, size_t c, const size_t **members)
{
	*members = g->cmem + g->coff[c];
	return g->coff[c + 1] - g->coff[c];
}

size_t pkg_graph_roots(const struct pkg_graph *g, const size_t **roots)
{
	*roots = g->roots;
	return g->nroots;
}

size_t pkg_graph_cycles(const struct pkg_graph *g, const size_t **comps)
{
	*comps = g->cycles;
	return g->ncycles;
}

int pkg_graph_manual_diff(const struct pkg_graph *g, size_t **manual_not_root, size_t *n1,
			  size_t **root_not_manual, size_t *n2, struct ut_err *err)
{
	unsigned char *isroot = ut_calloc(g->n + 1, 1);
	size_t i;

	*manual_not_root = ut_malloc((g->n + 1) * sizeof(size_t));
	*root_not_manual = ut_malloc((g->n + 1) * sizeof(size_t));
	*n1 = *n2 = 0;
	for (i = 0; i < g->nroots; i++)
		isroot[g->roots[i]] = 1;
	for (i = 0; i < g->n; i++) {
		int m = g->db->v[i].manual;

		if (m == 1 && !isroot[i])
			(*manual_not_root)[(*n1)++] = i;
		else if (m == 0 && isroot[i])
			(*root_not_manual)[(*n2)++] = i;
	}
	free(isroot);
	return 0;
}

/*
 * A member of the subset is held back when a member of another SCC leads
 * to it: one pass over everything reachable from the subset marks the SCCs
 * entered across an edge, so the cost is one walk of the graph, not one
 * per member.
 */
size_t pkg_graph_subset_roots(const struct pkg_graph *g, const size_t *set, size_t nset,
			      size_t **roots)
{
	size_t i, sp = 0, nroots = 0;
	size_t *first = ut_malloc((g->nscc + 1) * sizeof(size_t));
	size_t *stack = ut_malloc((g->nnodes + 1) * sizeof(size_t));
	unsigned char *entered = ut_calloc(g->nscc + 1, 1);
	unsigned char *seen = ut_calloc(g->nnodes + 1, 1);
	const size_t NONE = (size_t)-1;

	for (i = 0; i < g->nscc; i++)
		first[i] = NONE;
	for (i = 0; i < nset; i++) {
		size_t s = g->scc[set[i]];

		/* The SCC's representative: its smallest index, so name. */
		if (first[s] == NONE || set[i] < first[s])
			first[s] = set[i];
		if (!seen[set[i]]) {
			seen[set[i]] = 1;
			stack[sp++] = set[i];
		}
	}
	while (sp) {
		size_t u = stack[--sp], e;

		for (e = g->off[u]; e < g->off[u + 1]; e++) {
			size_t w = g->to[e];

			if (g->scc[w] != g->scc[u])
				entered[g->scc[w]] = 1;
			if (!seen[w]) {
				seen[w] = 1;
				stack[sp++] = w;
			}
		}
	}
	*roots = ut_malloc((nset ? nset : 1) * sizeof(size_t));
	for (i = 0; i < nset; i++) {
		size_t s = g->scc[set[i]];

		if (!entered[s] && first[s] == set[i])
			(*roots)[nroots++] = set[i];
	}
	free(first);
	free(stack);
	free(entered);
	free(seen);
	return nroots;
}
