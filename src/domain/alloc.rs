//! The binary's allocator: blocks of 256 KiB and more placed lowest address first in one
//! reserved region, everything smaller mimalloc's.
//!
//! Why: a run allocates and frees columns of millions of values, and how many fresh pages it
//! touches decides its time on a machine whose idle memory the host has taken back (each fresh
//! MiB then costs 1.6-2.4 ms of kernel time, README "Benchmarks"). mimalloc keeps freed pages
//! but often puts the next large column in address space it never used (each thread starts its
//! search at a place of its own), so a 1 M run touched 1.3 GB for 0.77 GB live at most. Here
//! the lowest free range that fits is taken, so a freed column's pages are the first reused.
//!
//! The region's pages are small (4 KiB) and faulted in a block at a time when the block is
//! first handed out (`MADV_POPULATE_WRITE`). Why: after an idle spell, 2 MiB huge pages cost
//! these machines 2.1-2.3 ms a MiB to fault in again, small pages faulted in a block at a
//! time 0.32-0.35 ms whatever the machine did before; huge pages win only right after memory
//! was freed (0.1-0.17 ms a MiB), and a nightly job starts after an idle spell. A freed block
//! keeps its pages for the next one while the region serves (a run of up to 2 M rows a side,
//! a larger one while it loads), so each page is faulted in once.
//!
//! Large blocks are few beside the small ones, so one lock and a short sorted list of free
//! ranges serve them. When the list is full or the region exhausted, blocks go to mimalloc as before:
//! the region is an optimisation, never a limit. Only a one-shot run (`reconcile`, `run`) uses
//! the region; every other command, the scheduler among them, allocates as before.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Smallest block placed in the region. Below it mimalloc holds under 100 MiB at 1 M rows a
/// side; from a MiB on (the first try) the region held less and the run touched 130 MiB more.
pub const LARGE: usize = 256 << 10;
/// Blocks in the region are whole multiples of this, and aligned to it.
const GRANULE: usize = 64 << 10;
/// Address space reserved (not memory: pages are only backed when touched). Far above what the
/// largest run holds (100 M rows per side within 8 GiB); past it, blocks go to mimalloc.
const RESERVE: usize = 256 << 30;
/// The free ranges remembered; a range freed when all are taken is handed back to the system
/// and its addresses left unused.
const FREE_SLOTS: usize = 4096;

/// Address-ordered first fit over one range of addresses: offsets and lengths in bytes, all
/// multiples of [`GRANULE`].
#[derive(Debug)]
pub struct Region {
    /// Length of the range.
    len: usize,
    /// Everything at or above it is free and never listed.
    top: usize,
    /// Everything at or above it was never handed out (still zero).
    clean: usize,
    /// Free ranges below `top`, by offset, none adjacent to another or to `top`.
    free: [(usize, usize); FREE_SLOTS],
    /// Ranges in use in `free`.
    n: usize,
}

/// What [`Region::release`] did with a freed range.
#[derive(Debug, PartialEq, Eq)]
pub enum Released {
    /// Listed (or merged into `top`) for reuse.
    Kept,
    /// The list was full: the range should be handed back to the system; its addresses are
    /// not reused.
    Dropped,
}

impl Region {
    /// An empty region of `len` bytes (rounded down to whole granules).
    pub const fn new(len: usize) -> Self {
        Region {
            len: len / GRANULE * GRANULE,
            top: 0,
            clean: 0,
            free: [(0, 0); FREE_SLOTS],
            n: 0,
        }
    }

    /// The size a block of `size` bytes takes.
    pub fn rounded(size: usize) -> usize {
        size.div_ceil(GRANULE) * GRANULE
    }

    /// Takes the lowest free range of `size` bytes; `None` when none fits.
    pub fn take(&mut self, size: usize) -> Option<usize> {
        let size = Self::rounded(size);
        if let Some(i) = self.free[..self.n].iter().position(|&(_, l)| l >= size) {
            let (start, len) = self.free[i];
            if len == size {
                self.remove(i);
            } else {
                self.free[i] = (start + size, len - size);
            }
            return Some(start);
        }
        if self.len - self.top < size {
            return None;
        }
        let start = self.top;
        self.top += size;
        Some(start)
    }

    /// How many bytes from `start` may hold old contents (the rest was never handed out);
    /// marks `start..start + size` as handed out.
    pub fn dirty_prefix(&mut self, start: usize, size: usize) -> usize {
        let dirty = self.clean.saturating_sub(start).min(size);
        self.clean = self.clean.max(start + Self::rounded(size));
        dirty
    }

    /// Gives back the block of `size` bytes at `start`.
    pub fn release(&mut self, start: usize, size: usize) -> Released {
        let size = Self::rounded(size);
        debug_assert!(start + size <= self.top, "a block above top");
        let i = self.free[..self.n].partition_point(|&(s, _)| s < start);
        debug_assert!(
            i == self.n || start + size <= self.free[i].0,
            "overlaps the next"
        );
        debug_assert!(i == 0 || self.free[i - 1].0 + self.free[i - 1].1 <= start);
        let joins_prev = i > 0 && self.free[i - 1].0 + self.free[i - 1].1 == start;
        let joins_next = i < self.n && start + size == self.free[i].0;
        let (mut s, mut e) = (start, start + size);
        if joins_prev {
            s = self.free[i - 1].0;
        }
        if joins_next {
            e = self.free[i].0 + self.free[i].1;
        }
        // Drop the entries merged into [s, e), then place it (or lower top).
        let first = if joins_prev { i - 1 } else { i };
        let merged = usize::from(joins_prev) + usize::from(joins_next);
        for _ in 0..merged {
            self.remove(first);
        }
        if e == self.top {
            self.top = s;
            return Released::Kept;
        }
        if self.n == FREE_SLOTS {
            return Released::Dropped;
        }
        self.free.copy_within(first..self.n, first + 1);
        self.free[first] = (s, e - s);
        self.n += 1;
        Released::Kept
    }

    /// Grows the block at `start` from `old` to `new` bytes where it lies; `false` when the
    /// addresses after it are taken. A shrink is a [`Region::release`] of the tail.
    pub fn grow_in_place(&mut self, start: usize, old: usize, new: usize) -> bool {
        let (old, new) = (Self::rounded(old), Self::rounded(new));
        if new <= old {
            return true;
        }
        let end = start + old;
        let more = new - old;
        if end == self.top {
            if self.len - self.top < more {
                return false;
            }
            self.top += more;
            return true;
        }
        let i = self.free[..self.n].partition_point(|&(s, _)| s < end);
        if i < self.n && self.free[i].0 == end && self.free[i].1 >= more {
            if self.free[i].1 == more {
                self.remove(i);
            } else {
                self.free[i] = (end + more, self.free[i].1 - more);
            }
            return true;
        }
        false
    }

    /// The ranges whose pages are free but may be backed (the listed ranges, and what lies
    /// between `top` and the high-water mark), for the caller to hand back; from now on the
    /// region counts everything above `top` as never used.
    pub fn forget_free(&mut self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let above = (self.top, self.clean.saturating_sub(self.top));
        self.clean = self.top;
        self.free[..self.n]
            .iter()
            .copied()
            .chain(std::iter::once(above))
            .filter(|&(_, len)| len > 0)
    }

    fn remove(&mut self, i: usize) {
        self.free.copy_within(i + 1..self.n, i);
        self.n -= 1;
    }
}

/// A region with its lock and base address: the global allocator's is [`POOL`]; the tests
/// make their own.
pub struct Pool {
    shared: Mutex<Shared>,
    /// The region's first address: 0 until reserved, 1 when reserving failed. Read without
    /// the lock, so a free of a small block (nearly all frees) never waits for it.
    base: AtomicUsize,
}

/// What the lock guards.
struct Shared {
    /// Whether freed blocks go back to the system at once and new ones to mimalloc: the
    /// start, until a one-shot run says it keeps what it frees (`hand_back(false)`). So a
    /// process that lives for months (the scheduler), or fetches only, allocates as before,
    /// on mimalloc's own purge delay, and never holds a run's freed pages between runs.
    hand_back: bool,
    region: Region,
}

/// The global allocator's pool.
static POOL: Pool = Pool::new();

/// Whether blocks freed from now on go back to the system at once and new large blocks go to
/// mimalloc (`true`, the start), or the region serves large blocks and keeps what is freed for
/// the next ones (`false`), for the global allocator. A one-shot run keeps; a large one hands
/// back again from its reconcile stage on (see `reconcile::rules::keep_freed_memory`).
pub fn hand_back(yes: bool) {
    POOL.hand_back(yes);
}

impl Pool {
    /// A pool that hands back (serves nothing) until `hand_back(false)`; its addresses are
    /// reserved on its first large block after that.
    pub const fn new() -> Self {
        Pool {
            shared: Mutex::new(Shared {
                hand_back: true,
                region: Region::new(RESERVE),
            }),
            base: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // No code under the lock panics; a poisoned lock would still hold a sound region.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `p` is a block of the region.
    fn in_region(&self, p: *mut u8) -> bool {
        let base = self.base.load(Ordering::Acquire);
        let a = p as usize;
        base > 1 && a >= base && a < base + RESERVE
    }

    /// See the free function [`hand_back`].
    pub fn hand_back(&self, yes: bool) {
        let mut shared = self.lock();
        shared.hand_back = yes;
        let base = self.base.load(Ordering::Acquire);
        if yes && base > 1 {
            // What was freed before goes back too: the region serves no new block now, so its
            // free pages would otherwise be held, unused, to the end (700 MiB at 10 M rows).
            for (start, len) in shared.region.forget_free() {
                forget_pages(base + start, len);
            }
        }
    }

    /// A block of `layout` from the region, with how many of its first bytes may be dirty;
    /// `None` for mimalloc to serve. Its pages never handed out before are faulted in now
    /// ([`populate`]), outside the lock.
    fn take(&self, layout: Layout) -> Option<(*mut u8, usize)> {
        let (p, dirty) = self.take_locked(layout)?;
        // SAFETY: the block is the caller's alone from now on; nothing else uses its pages.
        unsafe { populate(p as usize + dirty, Region::rounded(layout.size()) - dirty) };
        Some((p, dirty))
    }

    /// [`Pool::take`] without the populating.
    fn take_locked(&self, layout: Layout) -> Option<(*mut u8, usize)> {
        if layout.size() < LARGE || layout.align() > GRANULE {
            return None;
        }
        let mut shared = self.lock();
        if shared.hand_back {
            return None;
        }
        let mut base = self.base.load(Ordering::Acquire);
        if base == 0 {
            // Under the lock: only one thread reserves.
            base = reserve().unwrap_or(1);
            self.base.store(base, Ordering::Release);
        }
        if base == 1 {
            return None;
        }
        let start = shared.region.take(layout.size())?;
        let dirty = shared.region.dirty_prefix(start, layout.size());
        Some(((base + start) as *mut u8, dirty))
    }

    /// Gives back `size` bytes of the region at `p`, to the system too when handing back.
    fn release(&self, shared: &mut Shared, p: *mut u8, size: usize) {
        let start = p as usize - self.base.load(Ordering::Acquire);
        let kept = shared.region.release(start, size);
        if shared.hand_back || kept == Released::Dropped {
            forget_pages(p as usize, Region::rounded(size));
        }
    }

    /// [`GlobalAlloc::alloc`].
    ///
    /// # Safety
    /// As `GlobalAlloc::alloc`.
    pub unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some((p, _)) = self.take(layout) {
            return p;
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    /// [`GlobalAlloc::alloc_zeroed`]: only what the region handed out before is zeroed.
    ///
    /// # Safety
    /// As `GlobalAlloc::alloc_zeroed`.
    pub unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if let Some((p, dirty)) = self.take(layout) {
            // SAFETY: the block holds layout.size() bytes; past `dirty` it is still zero.
            unsafe { p.write_bytes(0, dirty) };
            return p;
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }

    /// [`GlobalAlloc::dealloc`].
    ///
    /// # Safety
    /// As `GlobalAlloc::dealloc`.
    pub unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if self.in_region(p) {
            self.release(&mut self.lock(), p, layout.size());
            return;
        }
        // SAFETY: not in the region, so mimalloc's, with the layout it was given.
        unsafe { mimalloc::MiMalloc.dealloc(p, layout) }
    }

    /// [`GlobalAlloc::realloc`]: a region block grows where it lies when the addresses after it
    /// are free, and shrinks in place.
    ///
    /// # Safety
    /// As `GlobalAlloc::realloc`.
    pub unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if self.in_region(p) {
            let start = p as usize - self.base.load(Ordering::Acquire);
            let (old_r, new_r) = (Region::rounded(layout.size()), Region::rounded(new_size));
            let mut shared = self.lock();
            if new_r < old_r {
                // SAFETY: the tail lies inside the block.
                let tail = unsafe { p.add(new_r) };
                self.release(&mut shared, tail, old_r - new_r);
                return p;
            }
            if shared.region.grow_in_place(start, layout.size(), new_size) {
                let dirty = shared.region.dirty_prefix(start, new_size).max(old_r);
                drop(shared);
                // SAFETY: the grown part is this block's, used by nothing else yet.
                unsafe { populate(p as usize + dirty, new_r - dirty) };
                return p;
            }
        } else if new_size < LARGE || self.lock().hand_back {
            // SAFETY: mimalloc's block, forwarded as given.
            return unsafe { mimalloc::MiMalloc.realloc(p, layout, new_size) };
        }
        // SAFETY: the caller guarantees new_size with layout's alignment is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a fresh block of new_size bytes; the old one stays valid until freed below.
        let q = unsafe { self.alloc(new_layout) };
        if !q.is_null() {
            // SAFETY: both blocks hold at least min(old, new) bytes and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                self.dealloc(p, layout);
            }
        }
        q
    }
}

impl Default for Pool {
    fn default() -> Self {
        Self::new()
    }
}

/// Elsewhere than Linux every block is mimalloc's.
#[cfg(not(target_os = "linux"))]
fn reserve() -> Option<usize> {
    None
}

#[cfg(not(target_os = "linux"))]
fn forget_pages(_at: usize, _len: usize) {}

/// Reserves [`RESERVE`] bytes of addresses, aligned to 2 MiB so the system may back them with
/// huge pages; `None` when the system refuses.
#[cfg(target_os = "linux")]
fn reserve() -> Option<usize> {
    const ALIGN: usize = 2 << 20;
    // SAFETY: an anonymous private mapping at an address of the system's choosing touches no
    // existing memory; MAP_NORESERVE backs pages only when written.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            RESERVE + ALIGN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // Small pages also where the system would give huge ones unasked (`enabled` = `always`):
    // see the module's comment. Faulted in by `populate`, a 1 M run takes a few thousand calls,
    // not one fault per 4 KiB.
    // SAFETY: advice on the mapping just made; refused, it only leaves the system's default.
    unsafe {
        libc::madvise(p, RESERVE + ALIGN, libc::MADV_NOHUGEPAGE);
    }
    Some((p as usize).next_multiple_of(ALIGN))
}

/// Faults in the pages of `len` bytes at `at` (a whole number of granules) in one call, for
/// writing: one system call instead of a fault per 4 KiB (0.32-0.35 against 0.40-0.50 ms a
/// MiB measured). A system that refuses (Linux before 5.14) leaves them to fault in when
/// first written.
///
/// # Safety
/// The range lies in the region and belongs to one block that nothing else uses.
#[cfg(target_os = "linux")]
unsafe fn populate(at: usize, len: usize) {
    if len > 0 {
        // SAFETY: per the caller, the range is ours; the advice only backs its pages.
        unsafe {
            libc::madvise(at as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
unsafe fn populate(_at: usize, _len: usize) {}

/// Hands the pages of a freed range back to the system (they read as zero if used again).
#[cfg(target_os = "linux")]
fn forget_pages(at: usize, len: usize) {
    // SAFETY: the range is free in the region: nothing references it any more.
    unsafe {
        libc::madvise(at as *mut libc::c_void, len, libc::MADV_DONTNEED);
    }
}

/// The global allocator: large blocks in [`POOL`]'s region, the rest (and what the region
/// cannot take) mimalloc's. Which one a pointer came from is decided by its address.
pub struct Allocator;

// SAFETY: every block is served by exactly one of the region or mimalloc, and freed (or resized)
// by the same one, chosen by its address; region blocks never overlap (Region's invariants,
// tested below) and are only read or written by their owner.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { POOL.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { POOL.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { POOL.dealloc(p, layout) }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { POOL.realloc(p, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const M: usize = 1 << 20;

    #[test]
    fn a_freed_block_is_the_first_reused() {
        let mut r = Region::new(64 * M);
        let a = r.take(4 * M).unwrap();
        let b = r.take(4 * M).unwrap();
        let _c = r.take(4 * M).unwrap();
        assert_eq!((a, b), (0, 4 * M));
        assert_eq!(r.release(a, 4 * M), Released::Kept);
        assert_eq!(r.release(b, 4 * M), Released::Kept);
        // The two freed blocks merged: a larger one fits where they were, not above.
        assert_eq!(r.take(6 * M), Some(0));
        assert_eq!(r.take(2 * M), Some(6 * M));
        assert_eq!(r.clean, 0, "nothing marked handed out yet");
    }

    #[test]
    fn the_block_below_top_lowers_top_when_freed() {
        let mut r = Region::new(64 * M);
        let a = r.take(M).unwrap();
        let b = r.take(M).unwrap();
        r.release(b, M);
        r.release(a, M);
        assert_eq!((r.top, r.n), (0, 0));
    }

    #[test]
    fn forget_free_lists_every_free_range_and_what_lies_above_top() {
        let mut r = Region::new(64 * M);
        let a = r.take(M).unwrap();
        let b = r.take(2 * M).unwrap();
        let c = r.take(M).unwrap();
        let d = r.take(M).unwrap();
        for (start, size) in [(a, M), (b, 2 * M), (c, M), (d, M)] {
            r.dirty_prefix(start, size);
        }
        r.release(b, 2 * M);
        r.release(d, M);
        let ranges: Vec<_> = r.forget_free().collect();
        assert_eq!(ranges, vec![(M, 2 * M), (4 * M, M)]);
        // Above top is clean again: a block there needs no zeroing.
        let e = r.take(M).unwrap();
        assert_eq!((e, r.dirty_prefix(e, M)), (M, M));
        let f = r.take(2 * M).unwrap();
        assert_eq!((f, r.dirty_prefix(f, 2 * M)), (4 * M, 0));
    }

    #[test]
    fn a_region_that_is_full_refuses() {
        let mut r = Region::new(8 * M);
        assert_eq!(r.take(8 * M), Some(0));
        assert_eq!(r.take(1), None);
    }

    #[test]
    fn dirty_prefix_counts_only_what_was_handed_out_before() {
        let mut r = Region::new(64 * M);
        let a = r.take(2 * M).unwrap();
        assert_eq!(r.dirty_prefix(a, 2 * M), 0);
        r.release(a, 2 * M);
        let b = r.take(3 * M).unwrap();
        assert_eq!(r.dirty_prefix(b, 3 * M), 2 * M);
        assert_eq!(r.clean, 3 * M);
    }

    #[test]
    fn grow_in_place_grows_into_top_and_into_a_free_neighbour() {
        let mut r = Region::new(64 * M);
        let a = r.take(M).unwrap();
        assert!(r.grow_in_place(a, M, 3 * M));
        let b = r.take(M).unwrap();
        let c = r.take(M).unwrap();
        assert_eq!((b, c), (3 * M, 4 * M));
        r.release(c, M);
        // b grows into the top c left; a cannot grow, b is after it.
        assert!(!r.grow_in_place(a, 3 * M, 4 * M));
        assert!(r.grow_in_place(b, M, 2 * M));
        // Shrinking lists the tail.
        assert_eq!(r.release(a + M, 2 * M), Released::Kept);
        assert_eq!(r.take(2 * M), Some(M));
    }

    #[test]
    fn a_full_list_drops_the_range_and_stays_sound() {
        let mut r = Region::new(RESERVE);
        let g = GRANULE;
        let blocks: Vec<usize> = (0..2 * FREE_SLOTS + 2)
            .map(|_| r.take(g).unwrap())
            .collect();
        // Every other block freed: each its own range, until the list is full.
        let mut dropped = 0;
        for b in blocks.iter().step_by(2) {
            if r.release(*b, g) == Released::Dropped {
                dropped += 1;
            }
        }
        assert_eq!(r.n, FREE_SLOTS);
        assert_eq!(dropped, 1);
        // Reuse still comes from the lowest listed range.
        assert_eq!(r.take(g), Some(0));
    }

    /// One step of a random sequence: take a block of some granules, or free the i-th live one,
    /// or resize it.
    #[derive(Debug, Clone)]
    enum Step {
        Take(usize),
        Free(usize),
        Resize(usize, usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1usize..40).prop_map(Step::Take),
            any::<usize>().prop_map(Step::Free),
            (any::<usize>(), 1usize..40).prop_map(|(i, g)| Step::Resize(i, g)),
        ]
    }

    proptest! {
        /// Live blocks never overlap, every free range is listed once, and a take always
        /// returns the lowest place a block fits (checked against a map of granules).
        #[test]
        fn blocks_never_overlap_and_the_lowest_fit_is_taken(steps in prop::collection::vec(step(), 1..300)) {
            let granules = 512;
            let mut r = Region::new(granules * GRANULE);
            let mut used = vec![false; granules];
            let mut live: Vec<(usize, usize)> = Vec::new();
            let mark = |used: &mut Vec<bool>, s: usize, l: usize, v: bool| {
                for u in &mut used[s / GRANULE..(s + l) / GRANULE] {
                    assert_ne!(*u, v, "granule marked twice");
                    *u = v;
                }
            };
            for s in steps {
                match s {
                    Step::Take(g) => {
                        let size = g * GRANULE;
                        let lowest = (0..=granules - g).find(|&i| used[i..i + g].iter().all(|u| !u));
                        let got = r.take(size - 1);
                        prop_assert_eq!(got, lowest.map(|i| i * GRANULE));
                        if let Some(at) = got {
                            mark(&mut used, at, size, true);
                            live.push((at, size));
                        }
                    }
                    Step::Free(i) if !live.is_empty() => {
                        let (at, size) = live.swap_remove(i % live.len());
                        prop_assert_eq!(r.release(at, size), Released::Kept);
                        mark(&mut used, at, size, false);
                    }
                    Step::Resize(i, g) if !live.is_empty() => {
                        let k = i % live.len();
                        let (at, size) = live[k];
                        let new = g * GRANULE;
                        let room = (at + size) / GRANULE..(at + new) / GRANULE;
                        let fits = new <= size || (room.end <= granules && used[room].iter().all(|u| !u));
                        if new < size {
                            // A shrink, as `Pool::realloc` makes it: the tail released.
                            prop_assert_eq!(r.release(at + new, size - new), Released::Kept);
                        } else {
                            prop_assert_eq!(r.grow_in_place(at, size, new), fits);
                        }
                        if fits {
                            mark(&mut used, at, size, false);
                            mark(&mut used, at, new, true);
                            live[k] = (at, new);
                        }
                    }
                    _ => {}
                }
                // The list: sorted, apart, below top; and top is past every live block.
                let list = &r.free[..r.n];
                for w in list.windows(2) {
                    prop_assert!(w[0].0 + w[0].1 < w[1].0);
                }
                if let Some(last) = list.last() {
                    prop_assert!(last.0 + last.1 < r.top);
                }
                for &(at, size) in &live {
                    prop_assert!(at + size <= r.top);
                }
            }
        }
    }

    /// Whether every page of `len` bytes at `p` is resident (`mincore`).
    #[cfg(target_os = "linux")]
    fn resident(p: *mut u8, len: usize) -> bool {
        let pages = len.div_ceil(4096);
        let mut vec = vec![0u8; pages];
        // SAFETY: a page-aligned range of the test's own mapping, a vector of one byte a page.
        let rc = unsafe { libc::mincore(p.cast(), len, vec.as_mut_ptr()) };
        assert_eq!(rc, 0);
        vec.iter().all(|v| v & 1 == 1)
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_pool_keeps_contents_across_growth_and_reuses_and_zeroes_a_freed_block() {
        static OWN: Pool = Pool::new();
        let layout = Layout::from_size_align(3 * M, 64).unwrap();
        // SAFETY: a fresh pool's large blocks are mimalloc's until it keeps.
        unsafe {
            let first = OWN.alloc(layout);
            assert!(!OWN.in_region(first), "a pool starts handing back");
            OWN.dealloc(first, layout);
        }
        OWN.hand_back(false);
        let grown = Layout::from_size_align(9 * M, 64).unwrap();
        // SAFETY: fresh blocks used within their sizes, freed with their layouts.
        unsafe {
            let p = OWN.alloc_zeroed(layout);
            assert!(OWN.in_region(p), "a large block lives in the region");
            assert!(std::slice::from_raw_parts(p, 3 * M).iter().all(|&b| b == 0));
            p.write_bytes(7, 3 * M);
            let blocker = OWN.alloc(layout);
            // Grows past the block after it: moved, contents kept.
            let q = OWN.realloc(p, layout, 9 * M);
            assert_ne!(q, p);
            assert!(std::slice::from_raw_parts(q, 3 * M).iter().all(|&b| b == 7));
            // The freed first block is reused first, and zeroed on a zeroed allocation.
            let r = OWN.alloc_zeroed(layout);
            assert_eq!(r, p);
            assert!(std::slice::from_raw_parts(r, 3 * M).iter().all(|&b| b == 0));
            // Shrinks in place.
            let q2 = OWN.realloc(q, grown, 4 * M);
            assert_eq!(q2, q);
            assert!(std::slice::from_raw_parts(q2, 3 * M)
                .iter()
                .all(|&b| b == 7));
            let small = Layout::from_size_align(100, 8).unwrap();
            let s = OWN.alloc(small);
            assert!(!OWN.in_region(s), "a small block is mimalloc's");
            OWN.dealloc(s, small);
            OWN.dealloc(r, layout);
            OWN.dealloc(blocker, layout);
            OWN.dealloc(q2, Layout::from_size_align(4 * M, 64).unwrap());
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_block_is_faulted_in_when_first_handed_out() {
        static OWN: Pool = Pool::new();
        OWN.hand_back(false);
        let layout = Layout::from_size_align(4 * M, 4096).unwrap();
        // SAFETY: fresh blocks used within their sizes, freed with their layouts.
        unsafe {
            let p = OWN.alloc(layout);
            assert!(OWN.in_region(p));
            assert!(resident(p, 4 * M), "backed before its first write");
            // Grown in place at the top: the new part is backed too.
            let q = OWN.realloc(p, layout, 6 * M);
            assert_eq!(q, p);
            assert!(resident(q, 6 * M));
            OWN.dealloc(q, Layout::from_size_align(6 * M, 4096).unwrap());
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn handing_back_returns_the_pages_freed_before_and_sends_new_blocks_to_mimalloc() {
        static OWN: Pool = Pool::new();
        OWN.hand_back(false);
        let layout = Layout::from_size_align(4 * M, 4096).unwrap();
        // SAFETY: fresh blocks used within their sizes, freed with their layouts.
        unsafe {
            let kept = OWN.alloc(layout);
            let freed = OWN.alloc(layout);
            let last = OWN.alloc(layout);
            for b in [kept, freed, last] {
                b.write_bytes(1, 4 * M);
            }
            OWN.dealloc(freed, layout);
            assert!(resident(freed, 4 * M), "kept for reuse while keeping");
            OWN.hand_back(true);
            assert!(!resident(freed, 4 * M), "handed back at the switch");
            assert!(resident(kept, 4 * M));
            OWN.dealloc(last, layout);
            assert!(!resident(last, 4 * M), "handed back when freed");
            let m = OWN.alloc(layout);
            assert!(!OWN.in_region(m), "new blocks are mimalloc's");
            OWN.dealloc(m, layout);
            // A shrink hands its tail back too.
            let shrunk = OWN.realloc(kept, layout, M);
            assert_eq!(shrunk, kept);
            assert!(resident(kept, M) && !resident(kept.add(M), 3 * M));
            OWN.dealloc(kept, Layout::from_size_align(M, 4096).unwrap());
        }
    }
}
