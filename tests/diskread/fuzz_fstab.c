/*
 * fuzz_fstab.c - libFuzzer target for the guest's /etc/fstab parser.
 *
 * The parser is static in disk.c and works on a disk already probed, so the
 * target includes disk.c and sets up the disk dr_disk_open would have made
 * for the sample VM: a GPT with a boot and a root partition and an ext4 on
 * each (the UUIDs, PARTUUIDs and labels of fixtures/README.md), the root
 * mounted at /. Then the fstab text is parsed into the mount plan, which must
 * come out sorted, with clean relative mount points and one entry per mount
 * point.
 *
 *   fuzz_fstab -max_total_time=600 CORPUS_DIR tests/diskread/fuzz-seeds/fstab
 */
#include "../../diskread/disk.c"

static struct dr_disk *sample_disk(void)
{
	static const struct {
		int number;
		const char *partuuid, *name, *uuid, *label;
	} vols[] = {
		{ 1, "6bb28e49-6f9e-5e3c-ba4e-f47ec36db2bd", "boot",
		  "ce69a38a-a091-561a-b5da-e95050a82229", "boot" },
		{ 2, "85cc8cb4-5319-577e-9173-e9b7e16d7764", "root",
		  "6f2deeae-c778-5e6e-aab1-51a1754a4a54", "root" },
		{ 5, "766d3263-05", "", "624ed254-78cd-55e9-bffa-9b8a2cb78fb4", "" },
	};
	const size_t n = sizeof(vols) / sizeof(vols[0]);
	struct dr_disk *d = ut_calloc(1, sizeof(*d));
	size_t i;

	d->parts = ut_calloc(n, sizeof(*d->parts));
	d->vols = ut_calloc(n, sizeof(*d->vols));
	d->nparts = d->nvols = n;
	for (i = 0; i < n; i++) {
		d->parts[i].number = vols[i].number;
		snprintf(d->parts[i].part_uuid, sizeof(d->parts[i].part_uuid), "%s",
			 vols[i].partuuid);
		snprintf(d->parts[i].name, sizeof(d->parts[i].name), "%s", vols[i].name);
		d->vols[i].partno = vols[i].number;
		d->vols[i].part = &d->parts[i];
		snprintf(d->vols[i].info.type, sizeof(d->vols[i].info.type), "ext4");
		snprintf(d->vols[i].info.uuid, sizeof(d->vols[i].info.uuid), "%s", vols[i].uuid);
		snprintf(d->vols[i].info.label, sizeof(d->vols[i].info.label), "%s",
			 vols[i].label);
	}
	return d;
}

/* libFuzzer calls this; it has no header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dr_disk *d = sample_disk();
	char *text = ut_strndup((const char *)data, size);
	size_t i, k;

	add_mount(d, "", "", 1, NULL);
	parse_fstab(d, 1, text);
	sort_mounts(d);
	if (!d->nmounts || d->mounts[0].mountpoint[0] || d->mount_vol[0] != 1)
		abort(); /* the root stays first and stays the root found */
	for (i = 0; i < d->nmounts; i++) {
		const char *mp = d->mounts[i].mountpoint;

		if (i && (!*mp || mp[0] == '/' || strstr(mp, "//") || mp[strlen(mp) - 1] == '/'))
			abort();
		if (d->mount_vol[i] >= d->nvols)
			abort();
		for (k = 0; k < i; k++)
			if (!strcmp(d->mounts[k].mountpoint, mp))
				abort();
		if (i && depth_of(d->mounts[i - 1].mountpoint) > depth_of(mp))
			abort(); /* parents before children */
	}
	free(text);
	dr_disk_free(d);
	return 0;
}
