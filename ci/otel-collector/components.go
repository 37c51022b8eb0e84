// The components of otelcol-demo, laid out as ocb's components.go.tmpl
// lays them out:
//
//   - receivers: otlp (OTLP/HTTP and OTLP/gRPC, protobuf and JSON);
//   - exporters: zipkin (Zipkin's JSON v2 or proto3, to a Zipkin server's
//     /api/v2/spans) and debug (the collector's own log, verbosity
//     "detailed" prints every span as received: resource, scope, kind,
//     attributes; it comes from core, at the same release, with no module
//     from outside the collector);
//   - no processor: the zipkin exporter has its own sending queue, so a
//     batch processor would add nothing the tests need.

package main

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/zipkinexporter"
)

func components() (otelcol.Factories, error) {
	var err error
	factories := otelcol.Factories{
		Telemetry: otelconftelemetry.NewFactory(),
	}

	factories.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](
		otlpreceiver.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	factories.ReceiverModules = map[component.Type]string{
		otlpreceiver.NewFactory().Type(): "go.opentelemetry.io/collector/receiver/otlpreceiver v0.148.0",
	}

	factories.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](
		zipkinexporter.NewFactory(),
		debugexporter.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	factories.ExporterModules = map[component.Type]string{
		zipkinexporter.NewFactory().Type(): "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/zipkinexporter v0.148.0",
		debugexporter.NewFactory().Type():  "go.opentelemetry.io/collector/exporter/debugexporter v0.148.0",
	}

	return factories, nil
}
