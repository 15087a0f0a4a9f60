set terminal pngcairo size 840,400 font ',10'
set output 'examples/gn_vs_bn/results/epochs.png'
set multiplot layout 1,2 title 'test error after each epoch, mean over seeds'
set xlabel 'epoch'
set ylabel 'test error (%)'
set grid
set key top right
set xrange [0.5:24.5]
set yrange [9.000000:39.566667]
set title 'BatchNorm'
plot 'examples/gn_vs_bn/results/epochs.dat' index 0 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'B=32', 'examples/gn_vs_bn/results/epochs.dat' index 1 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'B=16', 'examples/gn_vs_bn/results/epochs.dat' index 2 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'B=8', 'examples/gn_vs_bn/results/epochs.dat' index 3 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'B=4', 'examples/gn_vs_bn/results/epochs.dat' index 4 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'B=2'
set title 'GroupNorm'
plot 'examples/gn_vs_bn/results/epochs.dat' index 5 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'B=32', 'examples/gn_vs_bn/results/epochs.dat' index 6 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'B=16', 'examples/gn_vs_bn/results/epochs.dat' index 7 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'B=8', 'examples/gn_vs_bn/results/epochs.dat' index 8 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'B=4', 'examples/gn_vs_bn/results/epochs.dat' index 9 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'B=2'
unset multiplot
