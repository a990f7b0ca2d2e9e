fn main() -> std::process::ExitCode {
    shopsync_runtime::worker::service_main(shopsync_posting::SERVICE, shopsync_posting::runner)
}
