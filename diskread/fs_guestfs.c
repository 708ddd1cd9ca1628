/* fs_guestfs.c: being written */
