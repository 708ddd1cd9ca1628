/* blockdev.c: being written */
