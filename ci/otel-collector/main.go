// Program otelcol-demo is a minimal OpenTelemetry Collector: the OTLP
// receiver and the Zipkin exporter, nothing else. It stands in for Zipkin's
// own OTLP module (io.zipkin.contrib.otel:zipkin-module-otel, see
// docs/otlp.md), which the Maven Central these machines reach
// does not serve: the Collector's OTLP receiver is the reference OTLP/HTTP
// receiver, so what it accepts (or refuses) judges our services' OTLP
// export, and its zipkin exporter hands the spans on to the real Zipkin
// server (ci/zipkin-server.sh), whose API and dependency graph then judge
// what arrived.
//
// Laid out as the OpenTelemetry Collector Builder (ocb, the module
// go.opentelemetry.io/collector/cmd/builder v0.148.0) generates a
// distribution: main.go, main_others.go and components.go from its
// templates, written by hand so that no builder is needed. Built by
// ci/otel-collector.sh, which says how to run and upgrade it.
package main

import (
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	envprovider "go.opentelemetry.io/collector/confmap/provider/envprovider"
	fileprovider "go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/otelcol"
)

func main() {
	info := component.BuildInfo{
		Command:     "otelcol-demo",
		Description: "OTLP in, Zipkin out: the demo's OpenTelemetry Collector",
		Version:     "0.148.0",
	}

	set := otelcol.CollectorSettings{
		BuildInfo: info,
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
				},
			},
		},
		ProviderModules: map[string]string{
			envprovider.NewFactory().Create(confmap.ProviderSettings{}).Scheme():  "go.opentelemetry.io/collector/confmap/provider/envprovider v1.54.0",
			fileprovider.NewFactory().Create(confmap.ProviderSettings{}).Scheme(): "go.opentelemetry.io/collector/confmap/provider/fileprovider v1.54.0",
		},
	}

	if err := run(set); err != nil {
		// cobra has logged the error already.
		os.Exit(1)
	}
}

func runInteractive(params otelcol.CollectorSettings) error {
	return otelcol.NewCommand(params).Execute()
}
