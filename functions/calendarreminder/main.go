// Command calendarreminder is the scheduled Lambda function sending due calendar
package main

import (
	"workbench/shared/stack/calendarfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(calendarfn.CalendarReminder) }
