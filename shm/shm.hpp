// Everything shm/ offers, for code that uses the whole fabric (worker, supervisor, tests).
#pragma once

#include "shm/control.hpp"
#include "shm/cursor.hpp"
#include "shm/layout.hpp"
#include "shm/release_tracker.hpp"
#include "shm/ring.hpp"
#include "shm/segment.hpp"
#include "shm/slab.hpp"
