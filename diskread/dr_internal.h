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

/*
 * The file policy of one top-level open (struct dr_file_policy): the top
 * image's directories, the allowed places resolved, the images of the chain
 * (by device and inode) and the links judged so far. Shared by every device
 * of the chain, owned by the top one.
 */
struct dr_open_ctx;

/*
 * Opens the file bd itself is, for its backend's open(): the top image as
 * named on the command line (a regular file or a block device), or the file
 * dr_open_backing already resolved and checked. Sets *size (a block device's
 * size too) and records the file as an image of the chain. The fd is the
 * caller's.
 */
int dr_open_image_file(struct dr_blockdev *bd, int *fd, uint64_t *size, struct ut_err *err);

/*
 * The one way a backend opens a file its image names (a vmdk extent): name
 * resolved against bd's directory, judged by the policy (see struct
 * dr_file_policy), opened read-only and non-blocking. role says what it is in
 * messages ("vmdk extent"). *path gets the name joined to bd's directory
 * (malloc'd, for messages); *fd and *size as dr_open_image_file. On refusal
 * the error is one line: the image, the role, the name and the reason.
 */
int dr_open_named_file(struct dr_blockdev *bd, const char *role, const char *name, int *fd,
		       uint64_t *size, char **path, struct ut_err *err);

/*
 * Opens the backing image bd names (qcow2 backing file, vmdk parent) as
 * bd->backing, through the same policy; format NULL probes. Errors inside
 * the backing image are prefixed with "bd: role name: " at the top of the
 * chain only, so a deep chain's message does not repeat itself.
 */
int dr_open_backing(struct dr_blockdev *bd, const char *role, const char *name,
		    const char *format, struct ut_err *err);

#endif
