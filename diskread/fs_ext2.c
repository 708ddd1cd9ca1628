/* fs_ext2.c: being written */
