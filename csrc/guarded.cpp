// The one definition of the bridge's message release (see guarded.hpp).
#include <cstdlib>

extern "C" {
void graft_free_message(char* m) { free(m); }
}
