// Command pstest serves Google's own Pub/Sub fake (cloud.google.com/go/pubsub/pstest, from
// Debian's golang-google-cloud-dev) on the address given, for launchq's tests: clients reach
// it with PUBSUB_EMULATOR_HOST=<addr>. pstest.NewServer listens on a random port of its own;
// its GServer is registered again here on a listener the test harness chose.
package main

import (
	"flag"
	"log"
	"net"

	"cloud.google.com/go/pubsub/pstest"
	pb "google.golang.org/genproto/googleapis/pubsub/v1"
	"google.golang.org/grpc"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8085", "host:port to serve Pub/Sub on")
	flag.Parse()
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("pstest: %v", err)
	}
	fake := pstest.NewServer()
	defer fake.Close()
	server := grpc.NewServer()
	pb.RegisterPublisherServer(server, &fake.GServer)
	pb.RegisterSubscriberServer(server, &fake.GServer)
	log.Printf("pstest: serving Pub/Sub on %s", listener.Addr())
	if err := server.Serve(listener); err != nil {
		log.Fatalf("pstest: %v", err)
	}
}
