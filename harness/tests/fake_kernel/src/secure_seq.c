int secret(void) { return 2; }
