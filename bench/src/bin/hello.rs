//! A bare actix-web hello-world, the baseline of bench/api-vs-hello.sh. Usage: hello-actix ADDR
use actix_web::{App, HttpServer, get};

#[get("/")]
async fn hello() -> &'static str {
    "hello"
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18091".into());
    HttpServer::new(|| App::new().service(hello))
        .bind(addr)?
        .run()
        .await
}
