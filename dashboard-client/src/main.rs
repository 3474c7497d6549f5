fn main() -> std::process::ExitCode {
    sonde_dashboard::main()
}
