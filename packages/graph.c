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
	size_t n;
	size_t *off, *to; /* CSR adjacency: to[off[i]..off[i+1]) */
	size_t unresolved;
	size_t *comp;     /* node -> component */
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
	return rel_holds(a->rel, pkg_vercmp_str(db->format, pv->version, a->version));
}

/* Iterative Tarjan. */
static void tarjan(struct pkg_graph *g)
{
	size_t n = g->n, idx = 0, sp = 0, cs = 0, i;
	size_t *index = ut_malloc((n + 1) * sizeof(size_t));
	size_t *low = ut_malloc((n + 1) * sizeof(size_t));
	size_t *stack = ut_malloc((n + 1) * sizeof(size_t));
	size_t *cnode = ut_malloc((n + 1) * sizeof(size_t));
	size_t *cedge = ut_malloc((n + 1) * sizeof(size_t));
	unsigned char *on = ut_calloc(n + 1, 1);
	const size_t UNSEEN = (size_t)-1;

	for (i = 0; i < n; i++)
		index[i] = UNSEEN;
	g->comp = ut_malloc((n + 1) * sizeof(size_t));
	g->ncomp = 0;
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
					g->comp[w] = g->ncomp;
				} while (w != v);
				g->ncomp++;
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

static void condense(struct pkg_graph *g)
{
	size_t n = g->n, i, e, c;
	size_t *fill = ut_calloc(g->ncomp + 1, sizeof(size_t));
	unsigned char *incoming = ut_calloc(g->ncomp + 1, 1);

	g->coff = ut_calloc(g->ncomp + 1, sizeof(size_t));
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
	for (i = 0; i < n; i++)
		for (e = g->off[i]; e < g->off[i + 1]; e++)
			if (g->comp[g->to[e]] != g->comp[i])
				incoming[g->comp[g->to[e]]] = 1;
	g->roots = ut_malloc((g->ncomp + 1) * sizeof(size_t));
	g->cycles = ut_malloc((g->ncomp + 1) * sizeof(size_t));
	for (c = 0; c < g->ncomp; c++) {
		if (!incoming[c])
			g->roots[g->nroots++] = g->cmem[g->coff[c]];
		if (g->coff[c + 1] - g->coff[c] > 1)
			g->cycles[g->ncycles++] = c;
	}
	if (g->nroots > 1)
		qsort(g->roots, g->nroots, sizeof(size_t), size_cmp);
	free(fill);
	free(incoming);
}

int pkg_graph_build(const struct pkg_db *db, struct pkg_graph **out, struct ut_err *err)
{
	struct pkg_graph *g = ut_calloc(1, sizeof(*g));
	struct prov *pv = NULL;
	size_t npv = 0, i, j, k, nfreq = 0, nedges = 0;
	const char **freq = NULL; /* file requires, sorted, as "/path" */
	char **fnames = NULL;     /* "/path" strings we made */
	size_t nfnames = 0;
	size_t (*edges)[2] = NULL;
	size_t *tmp = NULL;

	g->db = db;
	g->n = db->n;
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
	for (i = 0; i < db->n; i++) {
		const struct pkg *p = &db->v[i];

		for (j = 0; j < p->ndeps; j++) {
			const struct pkg_dep *d = &p->deps[j];
			size_t found = 0;

			for (k = 0; k < d->nalts; k++) {
				struct prov key = { .name = d->alts[k].name, .pkg = 0 };
				size_t lo = 0, hi = npv;

				while (lo < hi) {
					size_t mid = lo + (hi - lo) / 2;

					if (prov_cmp(&pv[mid], &key) < 0)
						lo = mid + 1;
					else
						hi = mid;
				}
				for (; lo < npv && !strcmp(pv[lo].name, key.name); lo++) {
					if (!satisfies(db, p, &d->alts[k], &pv[lo]))
						continue;
					found++;
					if (pv[lo].pkg == i)
						continue;
					if (pkg_need_grow(nedges))
						edges = ut_realloc(edges, (nedges ? nedges * 2 : 1) *
								   sizeof(*edges));
					edges[nedges][0] = i;
					edges[nedges][1] = pv[lo].pkg;
					nedges++;
				}
			}
			if (!found)
				g->unresolved++;
		}
	}
	/* CSR: count, prefix sums, fill, then sort and unique each row. */
	g->off = ut_calloc(g->n + 2, sizeof(size_t));
	g->to = ut_malloc((nedges + 1) * sizeof(size_t));
	for (i = 0; i < nedges; i++)
		g->off[edges[i][0] + 1]++;
	for (i = 0; i < g->n; i++)
		g->off[i + 1] += g->off[i];
	tmp = ut_calloc(g->n + 1, sizeof(size_t));
	for (i = 0; i < nedges; i++) {
		size_t a = edges[i][0];

		g->to[g->off[a] + tmp[a]++] = edges[i][1];
	}
	{
		size_t w = 0, start = 0;

		for (i = 0; i < g->n; i++) {
			size_t s = start, e = g->off[i + 1], last = (size_t)-1;

			start = e;
			qsort(g->to + s, e - s, sizeof(size_t), size_cmp);
			g->off[i] = w;
			for (k = s; k < e; k++)
				if (g->to[k] != last)
					last = g->to[w++] = g->to[k];
		}
		g->off[g->n] = w;
	}
	tarjan(g);
	condense(g);
	for (i = 0; i < nfnames; i++)
		free(fnames[i]);
	free(fnames);
	free(freq);
	free(pv);
	free(edges);
	free(tmp);
	*out = g;
	return 0;
}

void pkg_graph_free(struct pkg_graph *g)
{
	if (!g)
		return;
	free(g->off);
	free(g->to);
	free(g->comp);
	free(g->coff);
	free(g->cmem);
	free(g->roots);
	free(g->cycles);
	free(g);
}

size_t pkg_graph_edges(const struct pkg_graph *g, size_t i, const size_t **to)
{
	*to = g->to + g->off[i];
	return g->off[i + 1] - g->off[i];
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
