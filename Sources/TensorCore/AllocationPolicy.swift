import CSystem

/// How a compute process gets its memory from the C allocator.
///
/// Why: glibc serves every allocation above `M_MMAP_THRESHOLD` (128 KiB at start) with a fresh `mmap`, returns it
/// with `munmap` when freed, and trims the heap top as soon as 128 KiB are free there. A solver step allocates
/// batch-sized buffers (50 chains × 14 × 14 × 32 floats = 1.25 MB) and frees them at once, so every step paid for
/// page faults and freshly zeroed pages: a quarter of certify's time was in the kernel (BENCHMARKS.md, issue 23).
/// Keeping freed buffers in the heap lets the next step reuse them, warm in cache. Only allocations of 32 MiB and
/// more (datasets, checkpoints) still get their own mapping; the process's resident size stays at its peak
/// instead of shrinking between steps, which is what a compute job wants. Arithmetic is unaffected.
public enum AllocationPolicy {
    /// Allocations of this many bytes or more are mapped individually (glibc's largest accepted value).
    public static let mmapThreshold = 32 << 20
    /// Free bytes at the heap top kept before memory is returned to the system.
    public static let trimThreshold = 1 << 30

    /// Applies the policy to this process (once, first thing in `main`). Returns false where the C library is not
    /// glibc or refused a value (nothing changes then).
    @discardableResult
    public static func keepBuffersResident() -> Bool {
        equicert_keep_heap_buffers(mmapThreshold, trimThreshold) == 1
    }
}
