/*
 * dr_internal.h - helpers the diskread backends share. Not public.
 */
#ifndef VM2OCI_DR_INTERNAL_H
#define VM2OCI_DR_INTERNAL_H

#include "diskread.h"

/*
 * Reads exactly len bytes at off from a host file of file_size bytes,
 * retrying short reads; bytes past the end of the file read as zeros (as
 * qemu does for a cluster that runs past a truncated image). Adds what it
 * read to *bytes_read. path names the file in errors.
 */
int dr_host_pread(int fd, uint64_t file_size, const char *path, void *buf, size_t len,
		  uint64_t off, uint64_t *bytes_read, struct ut_err *err);

/*
 * Reads [off, off+len) of bd's backing file into buf: what an overlay shows
 * where it holds no data itself. Past the backing file's end (a smaller
 * backing file), and with no backing file at all, the bytes are zeros.
 */
int dr_read_backing(struct dr_blockdev *bd, unsigned char *buf, uint64_t len, uint64_t off,
		    struct ut_err *err);

/* The LV a block device opened by dr_lvm_open is, or NULL for any other. */
const struct dr_lv *dr_lvm_lv_of(const struct dr_blockdev *bd);
/* An LV in one piece on the disk: its byte offset there (0); -1 otherwise. */
int dr_lvm_linear_offset(const struct dr_blockdev *bd, uint64_t *off);

#endif
