#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    shopsync_runtime::worker::service_main(
        shopsync_product_sync::SERVICE,
        shopsync_product_sync::runner,
    )
}
