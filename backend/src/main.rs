fn main() -> std::process::ExitCode {
    sonde_backend::main()
}
