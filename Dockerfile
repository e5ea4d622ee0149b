FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin kefu

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/kefu /usr/local/bin/kefu
ENV KEFU_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["kefu"]
CMD ["serve"]
