// A shared library that is not an xgrad plugin at all.
extern "C" __attribute__((visibility("default"))) int not_a_plugin(void) { return 42; }
