#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    shopsync_runtime::service::main("shopsync-scheduler", shopsync_scheduler::run)
}
