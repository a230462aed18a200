// CSystem: Linux system headers that Swift's Glibc module does not export.
#ifndef CSYSTEM_SHIM_H
#define CSYSTEM_SHIM_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/resource.h>
#include <malloc.h>

#endif
