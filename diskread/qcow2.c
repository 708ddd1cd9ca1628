/* qcow2.c: being written */
