use clap::Parser;

fn main() -> std::process::ExitCode {
    berth::cli::main(berth::config::Cli::parse())
}
