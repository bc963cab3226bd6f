fn main() {
    println!("xsolla-recon: work in progress");
}
