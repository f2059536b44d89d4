// C library settings Swift cannot reach through Glibc's module map (malloc.h). See AllocationPolicy.swift.
#ifndef EQUICERT_CSYSTEM_H
#define EQUICERT_CSYSTEM_H

/// glibc: serve allocations below `mmap_threshold` bytes from the heap and keep up to `trim_threshold` free bytes at
/// its top (mallopt M_MMAP_THRESHOLD / M_TRIM_THRESHOLD). Returns 1 when both settings were applied, 0 otherwise
/// (another C library, or a value glibc refuses).
int equicert_keep_heap_buffers(long mmap_threshold, long trim_threshold);

#endif
