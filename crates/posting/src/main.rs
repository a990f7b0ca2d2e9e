#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    shopsync_runtime::worker::service_main_with(shopsync_posting::SERVICE, shopsync_posting::serve)
}
