// Package simulator generates ride load on Kafka: drivers moving through cities, riders requesting rides, drivers reacting to matches.
package simulator
