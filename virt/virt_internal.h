/*
 * virt_internal.h - what virt.c and domxml.c share. Not installed, not
 * included outside virt/.
 */
#ifndef VM2OCI_VIRT_INTERNAL_H
#define VM2OCI_VIRT_INTERNAL_H

#include "virt.h"

/* Sets d->path or d->unreadable for a volume disk whose pool and volume
 * names are set. */
void vt_resolve_volume(struct vt_conn *c, struct vt_disk *d);
void vt_disk_release(struct vt_disk *d);

#endif
