/* raw.c: being written */
