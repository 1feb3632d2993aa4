// Package simulator generates ride load on Kafka: drivers moving through cities, riders requesting rides (generated, or replayed from a real trip file), drivers reacting to matches.
package simulator
