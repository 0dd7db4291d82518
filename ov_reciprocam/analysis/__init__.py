"""Reading the graph, never editing it: data flow, the scores output and its kind, quantize steps, ops, costs."""
