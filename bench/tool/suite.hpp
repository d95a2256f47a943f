#pragma once
// The suite (see the overview at the top of main.cpp): starts and always stops its own processes in
// a temporary work directory, runs every scenario the options ask for, prints each run as it ends
// and then the tables of medians. Returns 0; throws on anything that stops the suite.

#include "options.hpp"

namespace hub::bench {

int suite_main(options o);

}  // namespace hub::bench
