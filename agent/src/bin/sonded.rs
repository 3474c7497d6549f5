fn main() -> std::process::ExitCode {
    sonde_agent::daemon::main()
}
