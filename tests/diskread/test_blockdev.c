#include "testutil.h"
int main(void) { tu_skip("being written"); return 0; }
