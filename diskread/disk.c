/* disk.c: being written */
