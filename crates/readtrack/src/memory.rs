//! The process allocator and the memory figures it reports on `/metrics`.
//!
//! Under a long mixed load glibc's allocator let the server's resident memory climb
//! (fragmented per-thread arenas it never returned) while the live heap stayed near
//! 60 MiB. jemalloc serves every allocation instead, SQLite's included, and hands freed
//! pages back to the system after a few seconds.

/// The process allocator, for Rust and (through the unprefixed `malloc`) for C code.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// How often the allocator's figures are refreshed.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
const EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Publishes the allocator's figures as gauges every few seconds, on a plain thread
/// (they are process-wide, outside any runtime):
/// `readtrack_memory_allocated_bytes` (live allocations), `…_resident_bytes` (pages the
/// allocator holds in memory) and `…_retained_bytes` (address space kept for reuse but
/// returned to the system).
pub fn report_allocator_gauges() {
    #[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
    {
        use tikv_jemalloc_ctl::{epoch, stats};
        let _ = std::thread::Builder::new()
            .name("memory-gauges".into())
            .spawn(|| {
                loop {
                    if epoch::advance().is_ok() {
                        let gauges = [
                            ("readtrack_memory_allocated_bytes", stats::allocated::read()),
                            ("readtrack_memory_resident_bytes", stats::resident::read()),
                            ("readtrack_memory_retained_bytes", stats::retained::read()),
                        ];
                        for (name, value) in gauges {
                            if let Ok(v) = value {
                                metrics::gauge!(name).set(v as f64);
                            }
                        }
                    }
                    std::thread::sleep(EVERY);
                }
            });
    }
}
