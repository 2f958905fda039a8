fn main() {
    std::process::exit(ptenv::run());
}
