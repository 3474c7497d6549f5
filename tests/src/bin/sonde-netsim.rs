fn main() -> std::process::ExitCode {
    sonde_netsim::cli::main()
}
