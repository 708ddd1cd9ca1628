/* vmdk.c: being written */
