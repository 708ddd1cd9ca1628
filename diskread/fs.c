/* fs.c: being written */
