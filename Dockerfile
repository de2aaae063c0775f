# syntax=docker/dockerfile:1
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (SQLite included): a static binary.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/rapport ./cmd/rapport

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rapport /rapport
ENV RAPPORT_DATA_DIR=/data RAPPORT_ADDR=0.0.0.0:8080
EXPOSE 8080
USER nonroot
ENTRYPOINT ["/rapport"]
CMD ["serve"]
