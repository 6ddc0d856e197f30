#include "cli/app.h"

int main(int argc, char** argv) {
  return moeprof::cli::runMain(argc, argv);
}
