// CLinuxSystem: Linux system headers that Swift's Glibc module does not export.
#ifndef CLINUXSYSTEM_SHIM_H
#define CLINUXSYSTEM_SHIM_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/resource.h>
#include <malloc.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <unistd.h>

// copy_file_range(2) without _GNU_SOURCE in the importing module: the kernel copies between files (the hub's blob
// store assembles committed blobs with it). Returns -1 with errno set, as the libc wrapper does.
static inline long cls_copy_file_range(int fd_in, long long *off_in, int fd_out, long long *off_out, unsigned long len) {
    return syscall(SYS_copy_file_range, fd_in, off_in, fd_out, off_out, len, 0u);
}

#endif
